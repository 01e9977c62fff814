"""Proactive alerting: emerging issues -> internal alerts and German customer notices.

Public interface (what the composition root wires):

* ``alerting.stage.process(settings, engine, now=None) -> ProcessResult``: one pass over
  the Issue table: grouped/deduplicated internal alerts (cooldown, silences, escalation)
  with outbox rows to ``settings.alerting.team_channels``; incident notice drafts
  (auto-approved where ``auto_approve_min_severity`` allows); approved notices queued to
  their affected subscribers; "behoben" follow-ups when an issue resolves. Idempotent.
* ``alerting.delivery.deliver_due(settings, engine, worker_id, now=None, limit=100)
  -> DeliveryStats``: claim due outbox rows (lease), send once each, retry stage
  (backoff + jitter, Retry-After, cap, dead letter, fallback to the next channel).
* ``alerting.subscribers.add_subscriber / confirm_opt_in / unsubscribe``.
* ``alerting.channels.channel_for_url(url, settings=None)``.

Module map: rules.py (pure decisions), routing.py (alert/notice -> outbox rows),
render.py + templates/ (Jinja2 sandbox, German), channels/ (one class a channel),
errors.py (exception tree), outbox.py (enqueue/claim/finish), delivery.py, stage.py,
subscribers.py.
"""
