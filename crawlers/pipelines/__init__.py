"""Item pipelines, one a file, in the order of :data:`PIPELINES`.

validate (normalise text and time, drop empty) -> keywords (the source's filter) ->
language (declared language) -> pseudonymise (keyed hash of the author) -> store
(dedup, insert or update, in batches). Every drop is counted in a stats key
(``fruehwarn/dropped/<reason>`` for skips, ``fruehwarn/errors/<reason>`` for errors).
"""

PIPELINES: dict[str, int] = {
    "crawlers.pipelines.validate.ValidatePipeline": 100,
    "crawlers.pipelines.keywords.KeywordFilterPipeline": 200,
    "crawlers.pipelines.language.LanguagePipeline": 300,
    "crawlers.pipelines.pseudonymise.PseudonymisePipeline": 400,
    "crawlers.pipelines.store.StorePipeline": 500,
}
