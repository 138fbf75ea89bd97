"""One FHIR R4 ``PlanDefinition`` per protocol version (pure: a ``Protocol`` in, a dict out).

Resource id ``<protocol>-<version>``; canonical ``url`` per protocol with ``version``.
The first action, ``anchor``, stands for the anchor fact (its ``trigger``: a named event
per fact that may start the pathway). Each activity is an action:

- ``participant``: the activity's role (and its alternate roles, occurrence by occurrence);
- timing relative to its reference: ``relatedAction`` to ``anchor`` with the offset
  (``earliest``) as ``offsetDuration`` when the reference is the anchor, else a
  ``trigger`` naming the fact or rule that schedules it; ``timingDuration`` the window's
  length (earliest to due); a seasonal window as ``textEquivalent``;
- recurrence: ``timingTiming`` (``repeat``: ``frequency`` per ``period`` days, ``count``
  or a ``boundsDuration`` horizon), the offset of the first period as above.
"""

from __future__ import annotations

from typing import Any

from contracts.fhir_searchset import searchset
from pathways.domain.protocol import Activity, Protocol, Window

BASE = "https://parcours.example/fhir"
ACTIVITY_SYSTEM = f"{BASE}/CodeSystem/activity"
ROLE_SYSTEM = f"{BASE}/CodeSystem/role"
UCUM = "http://unitsofmeasure.org"
PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"


def plan_id(protocol: Protocol) -> str:
    return f"{protocol.id}-{protocol.version}"


def _duration(value: int, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": {"d": "days", "h": "hours"}[unit], "system": UCUM, "code": unit}


def _earliest(window: Window) -> dict[str, Any]:
    if window.earliest_hours is not None:
        return _duration(window.earliest_hours, "h")
    return _duration(window.earliest_days or 0, "d")


def _length(window: Window) -> dict[str, Any] | None:
    """earliest to due, in the unit the protocol uses."""
    if window.due_hours is not None:
        return _duration(window.due_hours - (window.earliest_hours or 0), "h")
    if window.due_days is not None:
        return _duration(window.due_days - (window.earliest_days or 0), "d")
    return None


def _timing(activity: Activity) -> dict[str, Any]:
    window, recurrence = activity.window, activity.recurrence
    timing: dict[str, Any] = {}
    if window.relative_to == "anchor":
        timing["relatedAction"] = [
            {"actionId": "anchor", "relationship": "after", "offsetDuration": _earliest(window)}
        ]
    else:
        timing["trigger"] = [{"type": "named-event", "name": window.relative_to}]
    if recurrence is not None:
        repeat: dict[str, Any] = {
            "frequency": recurrence.per_period,
            "period": recurrence.period_days,
            "periodUnit": "d",
        }
        if recurrence.count is not None:
            repeat["count"] = recurrence.count
        if recurrence.horizon_days is not None:
            repeat["boundsDuration"] = _duration(recurrence.horizon_days, "d")
        timing["timingTiming"] = {"repeat": repeat}
    elif window.season is not None:
        season = f"every year from {window.season.start} to {window.season.end} (MM-DD)"
        timing["textEquivalent"] = season
    elif (length := _length(window)) is not None:
        timing["timingDuration"] = length
    return timing


def _action(protocol: Protocol, activity: Activity) -> dict[str, Any]:
    roles = [activity.role, *activity.alternate_roles]
    return {
        "id": activity.id,
        "title": activity.title.en,
        "description": activity.title.fr,
        "code": [{"coding": [{"system": ACTIVITY_SYSTEM, "code": f"{protocol.id}/{activity.id}"}]}],
        "priority": "urgent" if activity.urgent else "routine",
        "participant": [
            {"type": "practitioner", "role": {"coding": [{"system": ROLE_SYSTEM, "code": r}]}}
            for r in roles
        ],
        **_timing(activity),
    }


def plan_definition(protocol: Protocol) -> dict[str, Any]:
    anchor = {
        "id": "anchor",
        "title": "Anchor: the fact that starts the pathway (day 0)",
        "trigger": [
            {"type": "named-event", "name": type(fact).__struct_config__.tag}
            for fact in protocol.anchor.facts
        ],
    }
    sources = [
        {"type": "citation", "citation": s.citation, **({"url": s.url} if s.url else {})}
        for s in protocol.metadata.sources
    ]
    plan: dict[str, Any] = {
        "resourceType": "PlanDefinition",
        "id": plan_id(protocol),
        "url": f"{BASE}/PlanDefinition/{protocol.id}",
        "version": str(protocol.version),
        "name": "".join(w.capitalize() for w in protocol.id.split("-")),
        "title": protocol.title.en,
        "type": {"coding": [{"system": PLAN_TYPE, "code": "clinical-protocol"}]},
        "status": protocol.status,
        "description": protocol.title.fr,
        "action": [anchor, *(_action(protocol, a) for a in protocol.activities)],
    }
    if sources:
        plan["relatedArtifact"] = sources
    return plan


def plan_searchset(protocols: list[Protocol], base: str) -> dict[str, Any]:
    return searchset([plan_definition(p) for p in protocols], base)
