"""Modules the crawl process needs, imported ahead by the forkserver (see crawlers/runner.py).

Importing Scrapy's engine, downloader and middlewares costs about a second (some of it
in ``inspect.stack()`` calls of deprecation shims); done once in the forkserver, every
forked crawl process starts with them loaded. Nothing here may install a Twisted
reactor: each crawl process installs the asyncio reactor itself.
"""

from __future__ import annotations

import importlib

MODULES = (
    "scrapy.crawler",
    "scrapy.core.engine",
    "scrapy.core.scheduler",
    "scrapy.core.scraper",
    "scrapy.core.downloader",
    "scrapy.core.downloader.handlers.http11",
    "scrapy.core.downloader.contextfactory",
    "scrapy.core.downloader.tls",
    "scrapy.downloadermiddlewares.robotstxt",
    "scrapy.downloadermiddlewares.httpauth",
    "scrapy.downloadermiddlewares.downloadtimeout",
    "scrapy.downloadermiddlewares.defaultheaders",
    "scrapy.downloadermiddlewares.useragent",
    "scrapy.downloadermiddlewares.retry",
    "scrapy.downloadermiddlewares.redirect",
    "scrapy.downloadermiddlewares.httpcompression",
    "scrapy.downloadermiddlewares.cookies",
    "scrapy.downloadermiddlewares.httpproxy",
    "scrapy.downloadermiddlewares.offsite",
    "scrapy.downloadermiddlewares.stats",
    "scrapy.downloadermiddlewares.httpcache",
    "scrapy.spidermiddlewares.start",
    "scrapy.spidermiddlewares.httperror",
    "scrapy.spidermiddlewares.referer",
    "scrapy.spidermiddlewares.urllength",
    "scrapy.spidermiddlewares.depth",
    "scrapy.spidermiddlewares.metacopy",
    "scrapy.extensions.corestats",
    "scrapy.extensions.logcount",
    "scrapy.extensions.closespider",
    "scrapy.extensions.logstats",
    "scrapy.extensions.throttle",
    "scrapy.pqueues",
    "scrapy.squeues",
    "scrapy.dupefilters",
    "scrapy.robotstxt",
    "scrapy.statscollectors",
    "scrapy.logformatter",
    "scrapy.resolver",
    "scrapy.utils.log",
    "crawlers.process",
    "crawlers.spiders",
    "crawlers.middlewares",
    "crawlers.pipelines.validate",
    "crawlers.pipelines.keywords",
    "crawlers.pipelines.language",
    "crawlers.pipelines.pseudonymise",
    "crawlers.pipelines.store",
)

for _name in MODULES:
    importlib.import_module(_name)
