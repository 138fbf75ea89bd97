"""The pure core of the notifications service.

No IO here (no asyncpg, nats, litestar, structlog), no wall clock, no random ids:
the time and the events come in.

- ``routing``: ``route(envelope, task, subjects=, default_zone=)`` -> the task's new
  view (``TaskView``) and the notifications to publish, each with its subject.
- ``digest``: ``digest_day(now, hour)`` and ``compose(recipient, day, at, tasks)``,
  the morning summary.
- ``access``: ``access_notices(envelope, offer, roles, subjects)`` -> who hears of an
  unscheduled-care request, its accept and escalation, and of a GP-access escalation.
- ``audience``: whom a task concerns (``concerns``), which zones a professional
  hears (``heard_zones``), the role a professional's tasks carry (``task_role``).
"""
