"""Synthetic territory history for ``parcours bench scale``: real event shapes, fast rows.

Templates: a few patient stories per protocol, each played through the real pure
decider (``pathways.domain.decide``): the anchor fact (a discharge, or a gestational
diabetes diagnosis), what it causes (``PatientEnrolled``, one ``TaskScheduled`` per
planned occurrence), then, in time order, every timer the events set
(``FireTimer``: reminders, overdue checks with escalations, the end of the pathway),
completions by the task's role (about three tasks in four, some late), and for some
patients a death or an unplanned readmission. Ids come from a marked counter and the
story starts at a fixed instant, so its encoded events can be re-stamped.

Re-stamping: each event of a template becomes a COPY text row with holes for its ids
(fresh random UUIDs per enrolment), its instants (shifted by whole days to the
enrolment's anchor day), the patient's stream, the CPTS and its zone. Enrolments are
generated in anchor-day order and each chunk's rows are sorted by ``occurred_at`` (a
stream's own events stay in version order), so streams interleave as they would in
the store; events after ``end`` (the history's last day) are not written yet.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import os
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from contracts import facts as f
from contracts import pathway as ev
from contracts.events import tag_of
from pathways.domain import (
    CompleteTask,
    DecideContext,
    DomainError,
    FireTimer,
    PatientState,
    ProtocolCatalog,
    RecordFact,
    decide,
    timers_for,
)

MARK = 0x5CA1E << 108  # template ids: UUID(int=MARK | n), found again in the encoded text
_ID = re.compile(r"5ca1e000-0000-0000-[0-9a-f]{4}-[0-9a-f]{12}")
_INSTANT = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"')
_DAY = re.compile(r'"(\d{4}-\d\d-\d\d)"')
BASE = dt.datetime(2020, 1, 6, tzinfo=dt.UTC)  # a template's day 0 (its anchor day, 00:00 UTC)
HOSPITAL = ("bench-dpi", "discharge-system")
SYSTEM = ("parcours-pathways", "service")  # the actor of what a fact causes (as streams.py)
RPPS = "10000000009"
FINESS = "750712184"
_enc = msgspec.json.Encoder()


@dataclass
class TemplateEvent:
    at: dt.datetime
    event_id: uuid.UUID
    type: str
    data: bytes
    actor: tuple[str, str]
    caused_by: uuid.UUID | None


def _anchor_fact(protocol_id: str, at: dt.datetime, rng: random.Random):  # type: ignore[no-untyped-def]
    if protocol_id.startswith("gestational"):
        return f.DiagnosisReported(
            diagnosed_at=at, code="O24.4", expected_delivery=(at + dt.timedelta(days=120)).date()
        )
    code = "J44.1" if protocol_id.startswith("copd") else rng.choice(["I50.0", "I50.1", "I50.9"])
    return f.DischargeReported(
        admitted_at=at - dt.timedelta(days=rng.randint(3, 9)),
        discharged_at=at,
        diagnoses=[code],
        finess=FINESS,
        nyha_class=rng.choice([None, 2, 3]),
    )


def play(protocol_id: str, catalog: ProtocolCatalog, seed: int) -> list[TemplateEvent]:
    """One patient's story from the decider, in time order (see the module docstring)."""
    rng = random.Random(seed)
    numbers = itertools.count(1)

    def new_id() -> uuid.UUID:
        return uuid.UUID(int=MARK | next(numbers))

    anchor = BASE + dt.timedelta(hours=rng.randint(7, 19), minutes=rng.randrange(60))
    agenda: list[tuple[dt.datetime, int, object]] = []
    order = itertools.count()

    def at(when: dt.datetime, command: object) -> None:
        heapq.heappush(agenda, (when, next(order), command))

    def fact(when: dt.datetime, payload, actor=HOSPITAL) -> None:  # type: ignore[no-untyped-def]
        command = RecordFact(
            event_id=new_id(), fact=payload, zone="Z", actor_id=actor[0], actor_role=actor[1]
        )
        at(when, command)

    fact(anchor, _anchor_fact(protocol_id, anchor, rng))
    roll = rng.random()
    later = anchor + dt.timedelta(days=rng.uniform(2, 90))
    if roll < 0.04:
        fact(later, f.DeathReported(died_at=later))
    elif roll < 0.14:
        fact(later, f.ReadmissionReported(admitted_at=later, finess=FINESS))
    if protocol_id.startswith("gestational"):
        birth = anchor + dt.timedelta(days=rng.randint(110, 125))
        fact(birth, f.DeliveryReported(delivered_at=birth, finess=FINESS))

    state, out = PatientState(), []
    horizon = anchor + dt.timedelta(days=800)
    while agenda:
        when, _, command = heapq.heappop(agenda)
        if when > horizon:
            break
        ctx = DecideContext(now=when, new_id=new_id, catalog=catalog)
        try:
            decided = decide(command, state, ctx)
        except DomainError:
            continue  # e.g. a completion planned for a task a death cancelled
        state = decided.state
        for e in decided.events:
            actor = SYSTEM if e.caused_by is not None else _actor_of(command)
            out.append(
                TemplateEvent(
                    when,
                    e.event_id or new_id(),
                    tag_of(e.payload),
                    _enc.encode(e.payload),
                    actor,
                    e.caused_by,
                )
            )
            for timer in timers_for(e.payload):
                at(max(timer.fire_at, when), FireTimer(timer=timer))
            if isinstance(e.payload, ev.TaskScheduled) and rng.random() < 0.75:
                task = e.payload
                span = (task.due - task.earliest).total_seconds()
                done = task.earliest + dt.timedelta(seconds=rng.uniform(0.05, 1.25) * span)
                at(
                    max(done, when),
                    CompleteTask(task_id=task.task_id, actor_id=RPPS, actor_role=task.role),
                )
    return out


def _actor_of(command: object) -> tuple[str, str]:
    return (command.actor_id, command.actor_role) if hasattr(command, "actor_id") else SYSTEM


def _copy_text(text: str) -> str:
    """A literal as PostgreSQL's COPY text format reads it."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


@dataclass
class Compiled:
    """A template as row formats (``str.format`` with positional holes) and its instants."""

    rows: list[str]  # one format per event
    offsets: list[float]  # each event's seconds from the template's day 0
    instants: list[str]  # template instants (ISO text) and days, in hole order
    ids: int  # distinct ids (holes 3 .. 3+ids-1)


def compile_template(events: list[TemplateEvent]) -> Compiled:
    """Holes: 0 stream, 1 cpts, 2 correlation id, 3.. ids, then instants; the zone is
    rewritten as the CPTS's zone hole text at render time (the template zone is 'Z')."""
    ids: dict[str, int] = {}
    instants: dict[str, int] = {}

    def hole_of_id(text: str) -> str:
        return f"{{{3 + ids.setdefault(text, len(ids))}}}"

    def hole_of_instant(text: str) -> str:
        return f"{{I{instants.setdefault(text, len(instants))}}}"

    rows, offsets = [], []
    for version, e in enumerate(events, start=1):
        data = e.data.decode()
        data = data.replace("{", "{{").replace("}", "}}")
        data = _ID.sub(lambda m: hole_of_id(m.group(0)), data)
        data = _INSTANT.sub(lambda m: '"' + hole_of_instant(m.group(1)) + '"', data)
        data = _DAY.sub(lambda m: '"' + hole_of_instant(m.group(1)) + '"', data)
        occurred = hole_of_instant(_enc.encode(e.at).decode().strip('"'))
        cause = hole_of_id(str(e.caused_by)) if e.caused_by else "\\N"
        parts = [
            hole_of_id(str(e.event_id)),
            "{0}",
            str(version),
            e.type,
            "{1}",
            occurred,
            occurred,
            "{2}",
            cause,
            e.actor[0],
            e.actor[1],
            _copy_text(data),
        ]
        rows.append("\t".join(parts) + "\n")
        offsets.append((e.at - BASE).total_seconds())
    n_ids = len(ids)
    ordered = sorted(instants, key=instants.__getitem__)
    # instant holes come after the id holes: renumber {In} -> {3 + ids + n}
    fixed = [re.sub(r"\{I(\d+)\}", lambda m: f"{{{3 + n_ids + int(m.group(1))}}}", r) for r in rows]
    return Compiled(fixed, offsets, ordered, n_ids)


def _shift(text: str, days: int) -> str:
    if "T" not in text:
        return (dt.date.fromisoformat(text) + dt.timedelta(days=days)).isoformat()
    moved = dt.datetime.fromisoformat(text.replace("Z", "+00:00")) + dt.timedelta(days=days)
    return moved.isoformat().replace("+00:00", "Z")


def _uuid_texts(n: int) -> list[str]:
    raw = os.urandom(16 * n).hex()
    return [
        f"{raw[i : i + 8]}-{raw[i + 8 : i + 12]}-{raw[i + 12 : i + 16]}-"
        f"{raw[i + 16 : i + 20]}-{raw[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


@dataclass
class Territory:
    cpts: int = 1000  # CPTS codes cpts-0001 ... (tenants)
    zones: int = 4  # pool zones per CPTS
    years: int = 3


def cpts_code(i: int) -> str:
    return f"cpts-{i + 1:04d}"


def zone_code(cpts: int, zone: int) -> str:
    return f"z{cpts + 1:04d}-{zone + 1}"


def history_rows(
    templates: list[tuple[str, Compiled]],
    weights: list[float],
    enrolments: int,
    end: dt.date,
    territory: Territory,
    seed: int,
    chunk: int = 2000,
    days: int | None = None,
    sample: list[str] | None = None,
) -> Iterator[tuple[bytes, int]]:
    """COPY text chunks (``bytes``, rows) of ``enrolments`` stories whose anchor days spread
    evenly over ``days`` (default ``territory.years`` years) up to ``end``; events after
    ``end`` are left out. ``sample`` receives the streams of about 500 of them."""
    rng = random.Random(seed)
    every = max(1, enrolments // 500)
    days = days or 365 * territory.years
    first = end - dt.timedelta(days=days - 1)
    base_day = BASE.date()
    end_offset_cache: dict[int, float] = {}
    shifted: dict[tuple[int, int], list[str]] = {}
    for start in range(0, enrolments, chunk):
        rows: list[tuple[float, int, str]] = []
        for n in range(start, min(start + chunk, enrolments)):
            day = first + dt.timedelta(days=n * days // enrolments)
            shift = (day - base_day).days
            which = rng.choices(range(len(templates)), weights)[0]
            protocol, t = templates[which]
            key = (which, shift)
            if key not in shifted:
                if len(shifted) > 50_000:
                    shifted.clear()
                shifted[key] = [_shift(s, shift) for s in t.instants]
            limit = end_offset_cache.setdefault(
                shift, ((end - base_day).days + 1 - shift) * 86400.0
            )
            c = rng.randrange(territory.cpts)
            values = [
                "patient-" + _uuid_texts(1)[0],
                cpts_code(c),
                f"scale-{n}",
                *_uuid_texts(t.ids),
                *shifted[key],
            ]
            if sample is not None and n % every == 0:
                sample.append(values[0])
            zone = zone_code(c, rng.randrange(territory.zones))
            base_s = shift * 86400.0
            for at, fmt in zip(t.offsets, t.rows, strict=True):
                if at >= limit:
                    break
                rows.append(
                    (base_s + at, n, fmt.format(*values).replace('"zone":"Z"', f'"zone":"{zone}"'))
                )
        rows.sort(key=lambda r: r[0])  # stable: a stream's events keep their version order
        yield "".join(r[2] for r in rows).encode(), len(rows)


def build_templates(
    catalog: ProtocolCatalog, per_protocol: int = 8
) -> tuple[list[tuple[str, Compiled]], list[float]]:
    """``per_protocol`` stories for each newest protocol, weighted as a territory's mix."""
    templates, weights = [], []
    newest = {p.id: p for p in catalog.latest_all()}
    share = {"hf": 0.5, "copd": 0.35, "gestational": 0.15}
    for pid in sorted(newest):
        w = next((v for k, v in share.items() if pid.startswith(k)), 0.1)
        for k in range(per_protocol):
            templates.append((pid, compile_template(play(pid, catalog, seed=1000 * k + len(pid)))))
            weights.append(w / per_protocol)
    return templates, weights
