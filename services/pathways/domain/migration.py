"""Moving an in-flight enrolment to another version of its protocol.

History is kept: completed, accepted and started tasks stay. For every activity
that differs between the versions (or exists in one only), the old version's
tasks still ``requested`` are cancelled (reason ``protocol migrated``) —
recurring activities only for occurrences starting after now — and the new
version plans the activity from the same reference (anchor, or the fact it is
relative to): recurring activities for the occurrences starting after now,
single ones unless a task of the activity is already done or under way.
Only active enrolments migrate (a paused one is resumed first).
"""

from __future__ import annotations

from datetime import datetime

from contracts import pathway as ev
from contracts.roles import Role
from pathways.domain.commands import MigrateProtocol
from pathways.domain.decision import Decision
from pathways.domain.errors import EnrolmentConflictError, NotAllowedError, UnknownEnrolmentError
from pathways.domain.matching import expected_delivery
from pathways.domain.protocol import Activity
from pathways.domain.scheduling import cancel_open, schedule_activity
from pathways.domain.state import EnrolmentState

_MIGRATORS = frozenset({Role.COORDINATOR, Role.ADMIN, Role.SERVICE})
_UNDER_WAY = frozenset({"accepted", "in-progress", "completed"})


def migrate(cmd: MigrateProtocol, d: Decision) -> None:
    if cmd.actor_role not in _MIGRATORS:
        raise NotAllowedError("only a coordinator or an administrator may migrate an enrolment")
    e = d.state.enrolments.get(cmd.enrolment_id)
    if e is None:
        raise UnknownEnrolmentError(cmd.enrolment_id)
    if e.version == cmd.to_version:
        return
    if e.status != "active":
        raise EnrolmentConflictError(
            f"enrolment {e.enrolment_id} is {e.status}: only an active enrolment migrates"
        )
    old = d.protocol_of(e)
    new = d.ctx.catalog.get(e.protocol, cmd.to_version)
    d.emit(
        ev.ProtocolVersionChanged(
            enrolment_id=e.enrolment_id,
            protocol=e.protocol,
            from_version=str(old.version),
            to_version=str(new.version),
        )
    )
    e = d.state.enrolments[e.enrolment_id]
    now = d.ctx.now
    reason = f"protocol migrated to version {new.version}"
    old_activities = {a.id: a for a in old.activities}
    new_activities = {a.id: a for a in new.activities}
    for activity_id in [*old_activities, *(a for a in new_activities if a not in old_activities)]:
        before, after = old_activities.get(activity_id), new_activities.get(activity_id)
        if before == after:
            continue
        recurring = any(a is not None and a.recurrence is not None for a in (before, after))
        tasks = [t for t in d.state.tasks_of(e.enrolment_id) if t.activity == activity_id]
        cancel_open(
            d,
            [t for t in tasks if t.status == "requested" and (not recurring or t.earliest > now)],
            reason,
            ev.CANCELLED_BY_MIGRATION,
        )
        if after is None or after.window.relative_to == "rule":
            continue
        under_way = any(t.status in _UNDER_WAY for t in tasks)
        if not recurring and under_way:
            continue
        _replan(d, e, after, reason, starting_after=now if recurring else None)


def _replan(
    d: Decision, e: EnrolmentState, activity: Activity, reason: str, starting_after: datetime | None
) -> None:
    relative = activity.window.relative_to
    if relative == "anchor":
        ref = e.anchor_at
        anchor = [f.fact for f in d.state.facts if f.event_id and f.event_id == e.anchor_event_id]
        delivery = expected_delivery(anchor[0]) if anchor else None
    else:
        delivery = None
        seen = [f for f in d.state.facts_of(relative) if f.at >= e.anchor_at]
        if not seen:
            return  # planned when the fact arrives
        ref = seen[0].at
    schedule_activity(
        d,
        e,
        activity,
        ref,
        expected_delivery=delivery,
        reason=reason,
        starting_after=starting_after,
    )
