"""The indicators view: per-patient evidence, and versioned case outcomes per indicator.

For each patient touched by a batch, the stored evidence (``proj_case_state``,
msgpack) is loaded, the batch's events are folded in with ``cases.evolve``, and
after each group of events committed together (same transaction) every outcome
is judged again; an outcome that changed closes its live version and adds one
(``proj_indicator_cases``), valid from the group's latest ``recorded_at``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from itertools import groupby

import asyncpg
import msgspec
from msgspec.structs import replace

from contracts.events import patient_of_stream
from projections.domain.cases import Catalog, Outcome, PatientCases, evolve, outcomes, relevant
from projections.domain.periods import local_day
from projections.domain.pseudonyms import pseudonym
from projections.versioned import copy_rows
from projections.views import Item

_encode = msgspec.msgpack.Encoder().encode


class _Stored(PatientCases, frozen=True, kw_only=True):
    valid_from: dt.datetime | None = None  # of the latest case versions written


_decode = msgspec.msgpack.Decoder(_Stored).decode
CASE_COLUMNS = [
    "cpts",
    "protocol",
    "code",
    "enrolment_id",
    "patient_id",
    "pseudonym",
    "anchor_day",
    "status",
    "reason",
    "reason_day",
    "num",
    "den",
    "window_end",
    "evidence",
    "valid_from",
    "valid_to",
]


class CasesView:
    name = "indicators"
    tables = ("proj_case_state", "proj_indicator_cases")

    def __init__(self, secret: str, catalog: Catalog) -> None:
        self.secret, self.catalog = secret, catalog

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None:
        by_patient: dict[uuid.UUID, list[Item]] = {}
        for item in items:
            if relevant(item.envelope) and (p := patient_of_stream(item.envelope.stream)):
                by_patient.setdefault(p, []).append(item)
        if not by_patient:
            return
        rows = await conn.fetch(
            f"SELECT patient_id, state FROM {tables['proj_case_state']} "
            "WHERE patient_id = ANY($1::uuid[])",
            list(by_patient),
        )
        states = {r["patient_id"]: _decode(r["state"]) for r in rows}
        closing: list[tuple[uuid.UUID, str, dt.datetime]] = []
        records: list[tuple] = []
        saved: list[tuple[uuid.UUID, str, bytes]] = []
        for patient_id, patient_items in by_patient.items():
            cpts = patient_items[0].envelope.cpts
            state = states.get(patient_id) or _Stored(cpts=cpts, patient_id=patient_id)
            alias = pseudonym(self.secret, cpts, patient_id)
            for _txid, group in groupby(patient_items, key=lambda i: i.txid):
                group = list(group)
                for item in group:
                    state = evolve(state, item.envelope)
                recorded = group[-1].visible_at
                state = self._judge(state, recorded, alias, closing, records)
            saved.append((patient_id, cpts, _encode(state)))
        await self._write(conn, tables, closing, records, saved)

    def _judge(
        self, state: _Stored, recorded: dt.datetime, alias: str, closing: list, records: list
    ) -> _Stored:
        current = outcomes(state, self.catalog)
        previous = state.outcomes
        changed = [k for k, (_, _, o) in current.items() if previous.get(k) != o]
        gone = [k for k in previous if k not in current]
        if not changed and not gone:
            return state
        valid_from = max(recorded, state.valid_from) if state.valid_from else recorded
        for key in [*changed, *gone]:
            if key in previous:
                enrolment_id, code = key.split("/", 1)
                closing.append((uuid.UUID(enrolment_id), code, valid_from))
        for key in changed:
            enr, code, o = current[key]
            records.append(
                (
                    state.cpts,
                    enr.protocol,
                    code,
                    enr.enrolment_id,
                    state.patient_id,
                    alias,
                    local_day(enr.anchor_at),
                    o.status,
                    o.reason,
                    o.reason_day,
                    o.num,
                    o.den,
                    o.window_end,
                    list(o.evidence),
                    valid_from,
                    None,
                )
            )
        new_outcomes: dict[str, Outcome] = {k: o for k, (_, _, o) in current.items()}
        return replace(state, outcomes=new_outcomes, valid_from=valid_from)

    async def _write(
        self,
        conn: asyncpg.Connection,
        tables: Mapping[str, str],
        closing: list,
        records: list,
        saved: list,
    ) -> None:
        cases = tables["proj_indicator_cases"]
        first: dict[tuple[uuid.UUID, str], dt.datetime] = {}
        for enrolment_id, code, vt in closing:  # the stored live version closes at the first change
            first.setdefault((enrolment_id, code), vt)
        closing = [(e, c, vt) for (e, c), vt in first.items()]
        if closing:
            await conn.execute(
                f"UPDATE {cases} AS t SET valid_to = u.vt "
                "FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(e, c, vt) "
                "WHERE t.enrolment_id = u.e AND t.code = u.c AND t.valid_to IS NULL",
                [c[0] for c in closing],
                [c[1] for c in closing],
                [c[2] for c in closing],
            )
            # a transaction split over two batches: its first version lasted no time
            await conn.execute(
                f"DELETE FROM {cases} AS t USING unnest($1::uuid[], $2::text[]) AS u(e, c) "
                "WHERE t.enrolment_id = u.e AND t.code = u.c AND t.valid_to = t.valid_from",
                [c[0] for c in closing],
                [c[1] for c in closing],
            )
        records = _chain(records)
        await copy_rows(conn, cases, CASE_COLUMNS, records)
        await conn.execute(
            f"INSERT INTO {tables['proj_case_state']} (patient_id, cpts, state) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[]) "
            "ON CONFLICT (patient_id) DO UPDATE SET state = excluded.state",
            [s[0] for s in saved],
            [s[1] for s in saved],
            [s[2] for s in saved],
        )


def _chain(records: list[tuple]) -> list[tuple]:
    """Close, inside the batch, the versions that a later version of the same case replaces."""
    last: dict[tuple[uuid.UUID, str], int] = {}
    out = list(records)
    for i, rec in enumerate(out):
        key = (rec[3], rec[2])
        if key in last:
            j = last[key]
            out[j] = (*out[j][:-1], rec[-2])  # valid_to = this version's valid_from
        last[key] = i
    return out
