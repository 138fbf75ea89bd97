"""What professionals' apps receive on the notifications stream.

One ``Notification`` per NATS message on ``<prefix>.<cpts>.tasks.<role>.<rpps>``
(one professional), ``<prefix>.<cpts>.pool.<role>.<zone>`` (the pool of a role
in a zone) or ``<prefix>.<cpts>.coord`` (the coordinators). It carries what an
app needs to show a line: the task, its window, its status, and a *patient
reference* (the internal patient id; none at all in an unscheduled-care offer,
which names the request only): never the patient's identity (INS,
names, birth date), which stays behind the HTTP API and the professional's token.

Headers: ``Nats-Msg-Id`` = ``notification_id`` (deterministic: the causing
event id, or the digest day, and the subject), so a notification published
twice is stored once; ``Parcours-Notification-Kind`` = ``kind``.

An app de-duplicates by ``notification_id`` and resumes from the last stream
sequence it saw (``deliver_policy=by_start_sequence``): the stream keeps
notifications for 30 days by default.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from typing import Literal

import msgspec

NotificationKind = Literal[
    "scheduled",  # a new task for you (or your pool)
    "assigned",  # a task was reassigned to you
    "reassigned",  # a task you (or your pool) had went to someone else
    "accepted",  # you claimed a pool task: it is now yours
    "taken",  # a pool task was claimed by someone: drop it from the pool list
    "released",  # a task went back to the pool
    "reminder",  # the task is due today
    "overdue",  # the task passed its due time
    "completed",  # the task is done (by you, someone else, or a reported fact)
    "cancelled",  # the task is no longer needed
    "rejected",  # (coordinators) a professional rejected a task
    "failed",  # the task could not be done
    "escalation",  # (coordinators) something slipped
    "digest",  # the morning summary of your open tasks
    "admitted",  # a patient you follow was admitted to hospital (no task in it)
    "discharged",  # a patient you follow left hospital (no task in it)
    "break-glass",  # (coordinators) a professional outside a care circle was granted access
    "snp-offered",  # an unscheduled-care request is offered to you (you have SNP slots)
    "snp-taken",  # an unscheduled-care request offered to you was accepted by someone else
    "snp-escalated",  # (coordinators) an unscheduled-care request was not accepted in time
    "gp-access-escalated",  # (coordinators) a GP-access request slipped (contact, target)
]
NOTIFICATION_KINDS: tuple[str, ...] = NotificationKind.__args__  # type: ignore[attr-defined]


class Window(msgspec.Struct, frozen=True, kw_only=True):
    earliest: dt.datetime
    due: dt.datetime


class DigestItem(msgspec.Struct, frozen=True, kw_only=True):
    task_id: uuid.UUID
    patient_id: uuid.UUID | None
    activity: str
    status: str
    window: Window
    urgent: bool = False
    pool: bool = False  # an open task of your pool, not yet claimed
    overdue: bool = False


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    notification_id: str  # dedup key, also the Nats-Msg-Id header
    kind: NotificationKind
    cpts: str
    at: dt.datetime  # when what is notified happened (event time, or digest time)
    task_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None  # the patient reference: an internal id, never identity
    enrolment_id: uuid.UUID | None = None
    protocol: str | None = None
    activity: str | None = None
    role: str | None = None
    status: str | None = None  # the task's FHIR-like status after the event
    window: Window | None = None
    urgent: bool = False
    assignee: str | None = None  # RPPS holding the task after the event; None = pool
    zone: str | None = None  # the pool's zone, for pool tasks
    reason: str | None = None
    event_id: uuid.UUID | None = None  # the event that caused it (absent for digests)
    digest_day: dt.date | None = None
    items: tuple[DigestItem, ...] = ()  # digest lines
    # access to care (snp-*, gp-access-*): the request, never the patient's identity
    request_id: uuid.UUID | None = None
    within_hours: int | None = None  # an unscheduled-care request: 24 or 48
    deadline: dt.datetime | None = None  # by when the patient must be seen


notification_encoder = msgspec.json.Encoder()
notification_decoder = msgspec.json.Decoder(Notification)

_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def zone_token(zone: str) -> str:
    """A zone (commune name, INSEE code, sector) as one NATS subject token.

    Accents are dropped and every run of other characters becomes ``-``:
    ``"Saint-Étienne du Rouvray"`` → ``"Saint-Etienne-du-Rouvray"``. Apps and
    the router use the same function, so they agree on pool subjects.
    """
    ascii_text = unicodedata.normalize("NFKD", zone).encode("ascii", "ignore").decode()
    token = _TOKEN_UNSAFE.sub("-", ascii_text).strip("-")
    if not token:
        raise ValueError(f"zone {zone!r} has no letter or digit")
    return token
