"""Every read of the dashboard, one module per page; pages import this package as ``data``.

``core``: settings, the engine (``st.cache_resource``, one per database URL, migrated),
the ``cached`` wrapper (``st.cache_data`` with ``dashboard.cache_ttl``; the key holds the
database URL), SQL helpers, German labels and the user lookup. ``lage``, ``themen``,
``benachrichtigungen``, ``quellen``: the queries of each page. Aggregation happens in SQL
on indexed columns (``post.published_at``, ``issue_post``, ``delivery``); only small results
reach pandas. Writes live in ``dashboard/actions.py``. Times are naive UTC.
"""

from dashboard.data.benachrichtigungen import (
    alerts,
    audit_entity_types,
    audit_trail,
    deliveries,
    delivery_counts,
    notices,
)
from dashboard.data.core import (
    ALERT_DE,
    DELIVERY_DE,
    KIND_DE,
    NOTICE_DE,
    SENTIMENTS_DE,
    cached,
    clear_cache,
    db_time,
    engine,
    engine_for,
    mask_address,
    settings,
    user_record,
    users,
)
from dashboard.data.lage import (
    issue_volume,
    notices_for_issue,
    open_issues,
    posts_in_window,
    sample_posts,
    volume_by_hour,
)
from dashboard.data.quellen import (
    crawl_errors,
    source_health,
)
from dashboard.data.themen import (
    languages,
    source_names,
    topic_daily,
    topics,
)

__all__ = [
    "ALERT_DE",
    "DELIVERY_DE",
    "KIND_DE",
    "NOTICE_DE",
    "SENTIMENTS_DE",
    "alerts",
    "audit_entity_types",
    "audit_trail",
    "cached",
    "clear_cache",
    "crawl_errors",
    "db_time",
    "deliveries",
    "delivery_counts",
    "engine",
    "engine_for",
    "issue_volume",
    "languages",
    "mask_address",
    "notices",
    "notices_for_issue",
    "open_issues",
    "posts_in_window",
    "sample_posts",
    "settings",
    "source_health",
    "source_names",
    "topic_daily",
    "topics",
    "user_record",
    "users",
    "volume_by_hour",
]
