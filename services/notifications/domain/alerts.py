"""Admission and discharge alerts to a followed patient's care circle (pure).

When a patient who is followed (an enrolment not closed) is admitted or discharged,
for any reason (``AdmissionReported``, ``ReadmissionReported``, ``DischargeReported``,
whatever its destination), the professionals around them hear it: nurses stop or
restart home visits, the GP knows. The router sees the fact in stream order, so what
it knows of the patient's tasks and enrolments is what held just before the fact.

``care_circle`` is the one place that says who they are. Today it is derived from
what the router already knows: the assignees of the patient's tasks that still
matter (open, or cancelled by a readmission's pause while their enrolment waits to
resume), plus the GP the discharge's care team names. When the pathways decider
publishes the circle itself (``CareCircleChanged``), this function reads that
instead; the rest does not change.

Each alert goes to the professional's subject (``<prefix>.<cpts>.tasks.<role>.<rpps>``)
with the deterministic id ``<event_id>:<subject>``; it names the patient by the
internal id only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from contracts.events import Envelope, patient_of_stream
from contracts.facts import DischargeReported
from contracts.notifications import Notification, NotificationKind
from contracts.pathway import CANCELLED_BY_PAUSE
from contracts.subjects import Subjects
from notifications.domain.routing import Addressed, TaskView

ALERTS: dict[str, NotificationKind] = {
    "AdmissionReported": "admitted",
    "ReadmissionReported": "admitted",
    "DischargeReported": "discharged",
}
FOLLOWED = frozenset({"active", "paused"})  # enrolment statuses of a followed patient


def care_circle(
    tasks: Iterable[TaskView], enrolments: Mapping[uuid.UUID, str], fact: object
) -> list[tuple[str, str]]:
    """(role, RPPS) of the professionals around a followed patient, sorted, each once;
    empty when the patient is not followed. ``tasks``: the patient's tasks as the router
    knows them; ``enrolments``: the patient's enrolment statuses; ``fact``: the alert's."""
    followed = {e for e, status in enrolments.items() if status in FOLLOWED}
    if not followed:
        return []
    circle = {
        (t.role, t.assignee)
        for t in tasks
        if t.assignee
        and t.enrolment_id in followed
        and (t.is_open or (t.status == "cancelled" and t.cause == CANCELLED_BY_PAUSE))
    }
    if isinstance(fact, DischargeReported):
        circle |= {(m.role, m.rpps) for m in fact.care_team if m.role == "gp"}
    return sorted(circle)


def alerts(
    env: Envelope,
    tasks: Iterable[TaskView],
    enrolments: Mapping[uuid.UUID, str],
    subjects: Subjects,
) -> list[Addressed]:
    """The alerts one fact gives (none for a fact that is no admission or discharge)."""
    kind = ALERTS.get(env.type)
    if kind is None:
        return []
    reason = "hospital admission"
    if isinstance(env.data, DischargeReported):
        reason = f"hospital discharge ({env.data.destination})"
    out = []
    for role, rpps in care_circle(tasks, enrolments, env.data):
        try:
            subject = subjects.professional(env.cpts, role, rpps)
        except ValueError:  # not a subject token: nobody to tell there
            continue
        out.append(
            Addressed(
                subject,
                Notification(
                    notification_id=f"{env.event_id}:{subject}",
                    kind=kind,
                    cpts=env.cpts,
                    at=env.occurred_at,
                    patient_id=patient_of_stream(env.stream),
                    role=role,
                    assignee=rpps,
                    reason=reason,
                    event_id=env.event_id,
                ),
            )
        )
    return out
