"""Pure parsers, one module a platform: payload text in, PostItems (and paging hints) out.

No I/O and no Scrapy here: each function takes the bytes or text a platform answered
and returns what it found, so it is tested offline against tests/fixtures/. A payload
that cannot be used as a whole raises :class:`MalformedPayload` (its ``reason`` feeds
the ``fruehwarn/errors/<reason>`` counter); a single unusable entry is skipped and
named in the result's ``problems``.
"""

from crawlers.parsers.common import MalformedPayload, load_json

__all__ = ["MalformedPayload", "load_json"]
