"""Operations: the Prometheus /metrics endpoint, `fruehwarn doctor` checks, structured logs.

Metrics are read from the database at scrape time (a custom collector), so every process
(scheduler, workers, dashboard) sees the same numbers and nothing is lost on restart.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from config import Settings
from storage.db import session_scope
from storage.models import Classification, Delivery, Issue, Post, Source, utcnow

# ------------------------------------------------------------------------------ metrics


class DatabaseCollector(Collector):
    """Crawl lag per source, queue sizes, classification count, delivery failures, issues."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        now = utcnow()
        with session_scope(self.engine) as s:
            lag = GaugeMetricFamily("fruehwarn_source_crawl_lag_seconds",
                                    "Seconds since the source was last crawled successfully", labels=["source"])
            fails = GaugeMetricFamily("fruehwarn_source_consecutive_failures",
                                      "Failed crawls in a row", labels=["source"])
            for src in s.execute(select(Source)).scalars():
                if src.last_success_at is not None:
                    lag.add_metric([src.name], (now - src.last_success_at).total_seconds())
                fails.add_metric([src.name], src.consecutive_failures)
            yield lag
            yield fails

            posts = s.execute(select(func.count()).select_from(Post)).scalar_one()
            classified = s.execute(select(func.count()).select_from(Classification)).scalar_one()
            ungrouped = s.execute(select(func.count()).select_from(Classification)
                                  .where(Classification.grouped.is_(False))).scalar_one()  # type: ignore[attr-defined]
            yield CounterMetricFamily("fruehwarn_posts", "Posts stored", value=posts)
            yield CounterMetricFamily("fruehwarn_classifications", "Posts classified", value=classified)
            queue = GaugeMetricFamily("fruehwarn_queue_size", "Work waiting per stage", labels=["stage"])
            queue.add_metric(["classify"], posts - classified)
            queue.add_metric(["group"], ungrouped)
            deliveries = GaugeMetricFamily("fruehwarn_deliveries", "Outbox rows by status", labels=["status"])
            failed = 0
            for status, n in s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)):
                deliveries.add_metric([status], n)
                if status in ("pending", "sending"):
                    queue.add_metric([f"deliver_{status}"], n)
                if status in ("failed", "dead"):
                    failed += n
            yield queue
            yield deliveries
            yield CounterMetricFamily("fruehwarn_delivery_failures", "Deliveries that failed for good",
                                      value=failed)
            issues = GaugeMetricFamily("fruehwarn_issues", "Issues by status", labels=["status"])
            for status, n in s.execute(select(Issue.status, func.count()).group_by(Issue.status)):
                issues.add_metric([status], n)
            yield issues


def metrics_registry(engine: Engine) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))
    return registry


def start_metrics_server(settings: Settings, engine: Engine) -> Any:
    """Serve /metrics on settings.ops; returns the server (None when disabled)."""
    if not settings.ops.metrics_port:
        return None
    from prometheus_client import start_http_server

    server, _thread = start_http_server(settings.ops.metrics_port, settings.ops.metrics_host,
                                        registry=metrics_registry(engine))
    return server


# ------------------------------------------------------------------------------ logs


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


# Libraries whose INFO lines are noise or carry personal data: httpx logs every request URL
# (a subscriber's webhook URL or token), aiosmtpd's mail.log logs recipients.
QUIET_LOGGERS = ("alembic", "scrapy", "httpx", "httpcore", "filelock", "mail.log")


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is the no-overlap rule working
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def configure_logging(settings: Settings) -> None:
    quiet_libraries()
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    if settings.ops.log_format == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())


# ------------------------------------------------------------------------------ doctor


@dataclass
class Check:
    name: str
    ok: bool
    message: str


def doctor(settings: Settings, *, send_test: bool = False) -> list[Check]:
    """Check configuration, database, model and channels; one line each."""
    checks = [Check("config", True, f"{len(settings.sources)} sources, data dir {settings.data_dir}")]
    if settings.secret_key.get_secret_value() == "change-me-in-production":
        checks.append(Check("secret", False, "FRUEHWARN_SECRET_KEY is the placeholder: set a random secret"))
    engine = None
    try:
        from storage.db import init_db

        engine = init_db(settings)
        with session_scope(engine) as s:
            n = s.execute(select(func.count()).select_from(Post)).scalar_one()
        checks.append(Check("database", True, f"{engine.dialect.name} reachable, migrations applied, {n} posts"))
    except Exception as exc:  # noqa: BLE001
        checks.append(Check("database", False, f"{settings.db_url}: {_one_line(exc)}"))
    checks.append(_check_model(settings))
    checks.extend(_check_channels(settings, send_test))
    if engine is not None:
        checks.extend(_check_sources(settings, engine))
        engine.dispose()
    return checks


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {(str(orig).strip().splitlines() or [''])[0]}"


def _check_model(settings: Settings) -> Check:
    if settings.model.encoder == "fake":
        return Check("model", True, "fake encoder configured (tests only)")
    try:
        from classifiers.encoder import build_encoder
        from classifiers.runtime import export_onnx, onnx_weights

        path = build_encoder(settings.model_cache_dir)
        if (weights := onnx_weights(settings.model)) is not None:
            where = export_onnx(settings.model_cache_dir, weights)
            return Check("model", True, f"encoder and ONNX export ready at {where}")
        return Check("model", True, f"encoder ready at {path}")
    except Exception as exc:  # noqa: BLE001
        return Check("model", False, _one_line(exc))


def _check_channels(settings: Settings, send_test: bool) -> list[Check]:
    from alerting.channels import Message, channel_for_url

    out = []
    if not settings.alerting.team_channels:
        out.append(Check("channels", False, "no team channel configured: internal alerts go nowhere"))
    for ch in settings.alerting.team_channels:
        try:
            channel = channel_for_url(ch.url.get_secret_value(), settings)
            ok, msg = True, f"configured: {channel.masked_url}"
            if send_test:
                try:
                    result = channel.send(Message(subject="fruehwarn doctor: Testnachricht",
                                                  text="Testnachricht von fruehwarn doctor.", html=None,
                                                  idempotency_key=f"doctor:{utcnow().isoformat()}", data={"test": True}))
                finally:
                    channel.close()
                ok = result.ok
                msg = f"{channel.masked_url}: test message {'sent' if ok else 'failed: ' + result.reason}"
            out.append(Check(f"channel {ch.name}", ok, msg))
        except Exception as exc:  # noqa: BLE001
            out.append(Check(f"channel {ch.name}", False, _one_line(exc)))
    return out


def _check_sources(settings: Settings, engine: Engine) -> list[Check]:
    out = []
    now = utcnow()
    with session_scope(engine) as s:
        rows = {src.name: src for src in s.execute(select(Source)).scalars()}
    for cfg in settings.sources:
        src = rows.get(cfg.name)
        if src is None or src.last_attempt_at is None:
            out.append(Check(f"source {cfg.name}", True, "not crawled yet"))
        elif src.consecutive_failures >= settings.crawl.failure_flag_after:
            out.append(Check(f"source {cfg.name}", False, f"{src.consecutive_failures} failed crawls in a row"))
        elif src.last_new_post_at and (now - src.last_new_post_at).total_seconds() > settings.crawl.silent_after:
            out.append(Check(f"source {cfg.name}", False, f"silent since {src.last_new_post_at:%Y-%m-%d %H:%M} UTC"))
        else:
            out.append(Check(f"source {cfg.name}", True, f"last success {src.last_success_at:%Y-%m-%d %H:%M} UTC"))
    return out
