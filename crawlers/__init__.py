"""Crawlers: configured sources -> normalised, deduplicated Post rows.

    runner.crawl_once(settings, engine, names)   the entry point (CLI, scheduler)
      runs.start_runs            Source rows synced, one CrawlRun 'running' per source
      process.run_jobs           in a forked crawl process: Scrapy, one spider per source
        spiders/<type>.py        requests + cursor; payloads to parsers/<type>.py (pure)
        middlewares.py           the one retry layer (429/5xx/timeouts, Retry-After)
        pipelines/*.py           validate -> keywords -> language -> pseudonymise -> store
        runs.finish_run          CrawlRun status/counts/error, Source cursor/health/flags
      runs.fail_unfinished       runs a dead crawl process left open -> failed
    export.export_posts          stored posts as JSON Lines

Imports ``config`` and ``storage`` only.
"""
