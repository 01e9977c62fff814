"""The post's language: what the platform declares (Mastodon, feeds), else the source's.

Detection proper is the classifiers' job (classifiers/language.py); this only records
the declared language, normalised to a lower-case ISO 639-1 code ("de-DE" -> "de").
"""

from __future__ import annotations

import re

from crawlers.items import PostItem
from crawlers.pipelines.base import Pipeline

_CODE = re.compile(r"^[a-z]{2,3}$")


def normalise_lang(value: str | None) -> str | None:
    if not value:
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if _CODE.match(code) else None


class LanguagePipeline(Pipeline):
    def process_item(self, item: PostItem) -> PostItem:
        item.lang = normalise_lang(item.lang) or normalise_lang(self.spider.source.language) or "und"
        return item
