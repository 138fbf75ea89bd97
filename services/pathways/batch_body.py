"""The body of ``POST /v1/facts:batch``: framing, decoding and per-item problems.

The body is a JSON array of facts or NDJSON (one fact per non-blank line). Every
item is decoded and checked on its own, with the checks of ``POST /v1/facts``
(schema, INS, plausible dates): a bad item gets its problem (RFC 9457, with the
field path inside the item and, for NDJSON, its ``line``) and never stops the
others.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import msgspec

from contracts.events import Actor, NewEvent
from contracts.facts import FACT_TYPES, INBOUND_FACTS, occurred_at, payload_of
from contracts.identity import PatientIdentity
from parcours.auth import Principal
from parcours.problems import Problem, schema_problem
from pathways.fact_checks import fact_problem
from pathways.identity import check_identity

MAX_ITEMS = 10_000

_item_decoder = msgspec.json.Decoder(Union[tuple(INBOUND_FACTS.values())])  # type: ignore[misc]  # noqa: UP007
_array_decoder = msgspec.json.Decoder(list[msgspec.Raw])


class BatchTooLargeError(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"a batch holds at most {MAX_ITEMS} facts, this one has {count}: split it")
        self.count = count


class BatchBodyError(Exception):
    """The body as a whole cannot be read (not a JSON array, malformed JSON)."""


@dataclass(slots=True)
class RawItem:
    index: int
    raw: bytes | msgspec.Raw
    line: int | None = None  # NDJSON line number (from 1)


@dataclass(slots=True)
class Item:
    """A decoded, checked fact of a batch (or of the group commit)."""

    index: int
    ins: str
    identity: PatientIdentity
    fact: NewEvent
    sent_id: bool  # the sender chose the event id (re-sending is then idempotent)


def split_body(body: bytes, ndjson: bool) -> list[RawItem]:
    """The items of a JSON array or of NDJSON (one fact per non-blank line)."""
    if ndjson:
        items = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if line.strip():
                items.append(RawItem(len(items), line, number))
                if len(items) > MAX_ITEMS:
                    raise BatchTooLargeError(body.count(b"\n") + 1)
        return items
    try:
        raws = _array_decoder.decode(body)
    except msgspec.ValidationError:
        raise BatchBodyError(
            "the body is a JSON array of facts (application/json), "
            "or one fact per line (application/x-ndjson)"
        ) from None
    except msgspec.DecodeError as exc:
        raise BatchBodyError(f"the body is not valid JSON: {exc}") from None
    if len(raws) > MAX_ITEMS:
        raise BatchTooLargeError(len(raws))
    return [RawItem(i, r) for i, r in enumerate(raws)]


def item_problem(problem: Problem) -> dict[str, Any]:
    """An item's problem detail, as its result carries it."""
    return problem.body()


def _schema_problem(message: str) -> Problem:
    return schema_problem(message, FACT_TYPES)


def _checked(body: Any, payload: Any, now: dt.datetime) -> Problem | None:
    try:
        check_identity(body.patient)
    except Problem as problem:
        return problem
    return fact_problem(payload, now)


def decode_items(
    raws: Sequence[RawItem], principal: Principal, correlation_id: str, now: dt.datetime
) -> tuple[list[Item], dict[int, dict[str, Any]]]:
    """Valid items, and the problems of the invalid ones by index."""
    items: list[Item] = []
    failed: dict[int, dict[str, Any]] = {}
    actor = Actor(id=principal.sub, role=principal.actor_role)
    for r in raws:
        try:
            body = _item_decoder.decode(r.raw)
        except msgspec.ValidationError as exc:
            problem = _schema_problem(str(exc))
        except msgspec.DecodeError as exc:
            problem = Problem(422, "Malformed JSON", f"the item is not valid JSON: {exc}")
        else:
            payload = payload_of(body)
            problem = _checked(body, payload, now)
            if problem is None:
                items.append(
                    Item(
                        index=r.index,
                        ins=body.patient.ins.upper(),
                        identity=body.patient,
                        fact=NewEvent(
                            event_id=body.event_id or uuid.uuid4(),
                            data=payload,
                            occurred_at=occurred_at(payload),
                            correlation_id=body.correlation_id or correlation_id,
                            causation_id=None,
                            actor=actor,
                            cpts=principal.cpts,
                        ),
                        sent_id=body.event_id is not None,
                    )
                )
                continue
        body_of_problem = item_problem(problem)
        if r.line is not None:
            body_of_problem["line"] = r.line
        failed[r.index] = body_of_problem
    return items, failed
