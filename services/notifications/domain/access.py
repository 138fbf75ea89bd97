"""Who hears about access to care (ACI mission 1): the pure rules.

The pathways decider decides; these rules only say who is told, from the events.

What each event tells whom
    UnscheduledCareRequested  each professional of ``offered_to`` (those with SNP slots
                              in the zone), on her own subject
                              ``<prefix>.<cpts>.tasks.<role>.<rpps>``: ``snp-offered``
                              (request id, zone, within how many hours, deadline). Her
                              role comes from the CPTS directory; one not in it (or
                              inactive) is skipped and counted, never named.
    UnscheduledCareAccepted   the other professionals it was offered to: ``snp-taken``
                              (like a claimed pool task tells the pool), once: an accept
                              after another accept of the same request tells nobody.
    UnscheduledCareEscalated  the coordinators: ``snp-escalated``
    GPAccessEscalated         the coordinators: ``gp-access-escalated``

An offer names no patient, not even the internal reference: whoever accepts it reads the
patient through the HTTP API. The coordinators' notices carry the patient reference, like
every notice to them. Ids are deterministic (``<event_id>:<subject>``), as for tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

import msgspec

from contracts.access import (
    GPAccessEscalated,
    UnscheduledCareAccepted,
    UnscheduledCareEscalated,
    UnscheduledCareRequested,
)
from contracts.events import Envelope, patient_of_stream
from contracts.notifications import Notification, NotificationKind
from contracts.subjects import Subjects
from notifications.domain.routing import Addressed

ACCESS_NOTICE_TYPES = frozenset(
    {
        "UnscheduledCareRequested",
        "UnscheduledCareAccepted",
        "UnscheduledCareEscalated",
        "GPAccessEscalated",
    }
)


class Offer(msgspec.Struct, frozen=True):
    """An unscheduled-care request as it stood just before an event of it."""

    request: UnscheduledCareRequested
    accepted_by: str | None = None  # a first accept already happened


class Notices(msgspec.Struct, frozen=True):
    out: list[Addressed]
    not_in_directory: int = 0  # offered professionals nobody could be told (no role known)


def offer_before(
    events: Iterable[Envelope], request_id: uuid.UUID, event_id: uuid.UUID
) -> Offer | None:
    """The offer of ``request_id`` from a stream's events (in stream order), as it stood just
    before the event ``event_id``; None when the stream has no such request before it."""
    offer: Offer | None = None
    for env in events:
        if env.event_id == event_id:
            break
        data = env.data
        if getattr(data, "request_id", None) != request_id:
            continue
        if isinstance(data, UnscheduledCareRequested) and offer is None:
            offer = Offer(data)
        elif isinstance(data, UnscheduledCareAccepted) and offer is not None:
            if offer.accepted_by is None:
                offer = Offer(offer.request, data.by)
    return offer


def _note(env: Envelope, subject: str, kind: NotificationKind, **fields: object) -> Addressed:
    return Addressed(
        subject,
        Notification(
            notification_id=f"{env.event_id}:{subject}",
            kind=kind,
            cpts=env.cpts,
            at=env.occurred_at,
            event_id=env.event_id,
            **fields,  # type: ignore[arg-type]
        ),
    )


def _to_offered(
    env: Envelope,
    rpps_list: Iterable[str],
    roles: Mapping[str, str],
    subjects: Subjects,
    kind: NotificationKind,
    **fields: object,
) -> Notices:
    out, missing = [], 0
    for rpps in sorted(set(rpps_list)):
        role = roles.get(rpps)
        try:
            subject = subjects.professional(env.cpts, role, rpps) if role else None
        except ValueError:  # not a subject token: nobody to tell there
            subject = None
        if subject is None:
            missing += 1
            continue
        out.append(_note(env, subject, kind, role=role, **fields))
    return Notices(out, missing)


def access_notices(
    env: Envelope, offer: Offer | None, roles: Mapping[str, str], subjects: Subjects
) -> Notices:
    """The notifications one access event gives. ``offer``: for an accept, the request as it
    stood before it (``offer_before``); ``roles``: RPPS -> the role her subject carries, for
    the professionals of the directory concerned (active ones only)."""
    data = env.data
    match data:
        case UnscheduledCareRequested():
            return _to_offered(
                env,
                data.offered_to,
                roles,
                subjects,
                "snp-offered",
                request_id=data.request_id,
                zone=data.zone,
                within_hours=data.within_hours,
                deadline=data.deadline,
                status="requested",
            )
        case UnscheduledCareAccepted():
            if offer is None or offer.accepted_by is not None:
                return Notices([])
            others = [r for r in offer.request.offered_to if r != data.by]
            return _to_offered(
                env,
                others,
                roles,
                subjects,
                "snp-taken",
                request_id=data.request_id,
                zone=offer.request.zone,
                within_hours=offer.request.within_hours,
                deadline=offer.request.deadline,
                status="accepted",
                assignee=data.by,
            )
        case UnscheduledCareEscalated():
            coord = subjects.coordinators(env.cpts)
            fields: dict[str, object] = {"reason": data.reason}
            if offer is not None:
                fields |= {"zone": offer.request.zone, "deadline": offer.request.deadline}
                fields["within_hours"] = offer.request.within_hours
            note = _note(
                env,
                coord,
                "snp-escalated",
                request_id=data.request_id,
                patient_id=patient_of_stream(env.stream),
                urgent=True,
                **fields,
            )
            return Notices([note])
        case GPAccessEscalated():
            coord = subjects.coordinators(env.cpts)
            reason = f"{data.reason} ({data.priority})" if data.priority else data.reason
            note = _note(
                env,
                coord,
                "gp-access-escalated",
                request_id=data.request_id,
                patient_id=patient_of_stream(env.stream),
                reason=reason,
            )
            return Notices([note])
    return Notices([])


def concerned(env: Envelope, offer: Offer | None) -> list[str]:
    """The RPPS whose directory role ``access_notices`` needs for this event."""
    if isinstance(env.data, UnscheduledCareRequested):
        return list(env.data.offered_to)
    if isinstance(env.data, UnscheduledCareAccepted) and offer is not None:
        return list(offer.request.offered_to)
    return []
