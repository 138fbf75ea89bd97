"""The indicators view: per-patient evidence, and versioned case outcomes per indicator.

For each patient touched by a batch, the stored evidence (``proj_case_state``,
msgpack) is loaded, the batch's events are folded in with ``cases.evolve``, and
after each group of events committed together (same transaction) every outcome
is judged again; an outcome that changed closes its live version and adds one
(``proj_indicator_cases``), valid from the group's latest ``recorded_at``.

``proj_indicator_totals`` keeps the live cases summed per (cpts, code, anchor day,
window end), in the same transaction: the live versions a batch closes (returned by
the closing UPDATE) are subtracted, the live versions it adds are added. The live
indicator queries read it (``projections.queries``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from itertools import groupby

import asyncpg
import msgspec
from msgspec.structs import replace

from projections.domain.cases import Catalog, Outcome, PatientCases, evolve, outcomes, relevant
from projections.domain.patients import patient_of
from projections.domain.periods import local_day
from projections.domain.pseudonyms import pseudonym
from projections.versioned import copy_rows
from projections.views import Item

_encode = msgspec.msgpack.Encoder().encode


class _Stored(PatientCases, frozen=True, kw_only=True):
    """A patient's evidence as stored in ``proj_case_state`` (msgpack). Its nested
    ``array_like`` Structs are stored by position: append fields only (see
    ``projections.domain.cases``)."""

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
    tables = ("proj_case_state", "proj_indicator_cases", "proj_indicator_totals")

    def __init__(self, secret: str, catalog: Catalog) -> None:
        self.secret, self.catalog = secret, catalog

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None:
        by_patient: dict[uuid.UUID, list[Item]] = {}
        for item in items:
            if relevant(item.envelope) and (p := patient_of(item.envelope.stream)):
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
        totals = Totals()
        first: dict[tuple[uuid.UUID, str], dt.datetime] = {}
        for enrolment_id, code, vt in closing:  # the stored live version closes at the first change
            first.setdefault((enrolment_id, code), vt)
        closing = [(e, c, vt) for (e, c), vt in first.items()]
        if closing:
            closed = await conn.fetch(
                f"UPDATE {cases} AS t SET valid_to = u.vt "
                "FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS u(e, c, vt) "
                "WHERE t.enrolment_id = u.e AND t.code = u.c AND t.valid_to IS NULL "
                "RETURNING t.cpts, t.code, t.anchor_day, t.window_end, t.status, t.num, t.den, "
                "t.enrolment_id, t.valid_from = t.valid_to AS lasted_no_time",
                [c[0] for c in closing],
                [c[1] for c in closing],
                [c[2] for c in closing],
            )
            for r in closed:
                totals.add(r[0], r[1], r[2], r[3], r[4], r[5], r[6], -1)
            # a transaction split over two batches: its first version lasted no time (only
            # those closed at their own valid_from: the UPDATE said which)
            if empty := [(r[7], r[1]) for r in closed if r[8]]:
                await conn.execute(
                    f"DELETE FROM {cases} AS t USING unnest($1::uuid[], $2::text[]) AS u(e, c) "
                    "WHERE t.enrolment_id = u.e AND t.code = u.c AND t.valid_to = t.valid_from",
                    [e[0] for e in empty],
                    [e[1] for e in empty],
                )
        records = _chain(records)
        await copy_rows(conn, cases, CASE_COLUMNS, records)
        for rec in records:
            if rec[-1] is None:  # live: cpts, code, anchor_day, window_end, status, num, den
                totals.add(rec[0], rec[2], rec[6], rec[12], rec[7], rec[10], rec[11], 1)
        await totals.write(conn, tables["proj_indicator_totals"])
        await conn.execute(
            f"INSERT INTO {tables['proj_case_state']} (patient_id, cpts, state) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[]) "
            "ON CONFLICT (patient_id) DO UPDATE SET state = excluded.state",
            [s[0] for s in saved],
            [s[1] for s in saved],
            [s[2] for s in saved],
        )


_STATUS_COLUMN = {"met": 3, "excluded": 4, "ineligible": 5, "not_met": 6}


class Totals:
    """Changes of the live totals: key -> [cases, num, den, met, excluded, ineligible, not_met]."""

    def __init__(self) -> None:
        self.delta: dict[tuple, list[int]] = {}

    def add(
        self, cpts: str, code: str, day: dt.date, window_end: int | None,
        status: str, num: int, den: int, sign: int,
    ) -> None:  # fmt: skip
        d = self.delta.get((cpts, code, day, window_end))
        if d is None:
            d = self.delta[(cpts, code, day, window_end)] = [0] * 7
        d[0] += sign
        d[1] += sign * num
        d[2] += sign * den
        if (i := _STATUS_COLUMN.get(status)) is not None:
            d[i] += sign

    async def write(self, conn: asyncpg.Connection, table: str) -> None:
        changed = [(k, d) for k, d in self.delta.items() if any(d)]
        if not changed:
            return
        columns = [[k[i] for k, _ in changed] for i in range(4)]
        columns += [[d[i] for _, d in changed] for i in range(7)]
        await conn.execute(
            f"""INSERT INTO {table} AS t (cpts, code, anchor_day, window_end, cases, num, den,
                                          met, excluded, ineligible, not_met)
                SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::int[], $5::bigint[],
                                     $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                                     $10::bigint[], $11::bigint[])
                ON CONFLICT (cpts, code, anchor_day, window_end) DO UPDATE SET
                    cases = t.cases + excluded.cases, num = t.num + excluded.num,
                    den = t.den + excluded.den, met = t.met + excluded.met,
                    excluded = t.excluded + excluded.excluded,
                    ineligible = t.ineligible + excluded.ineligible,
                    not_met = t.not_met + excluded.not_met""",
            *columns,
        )
        shrunk = [k for k, d in changed if d[0] < 0]
        if shrunk:
            await conn.execute(
                f"""DELETE FROM {table} AS t
                    USING unnest($1::text[], $2::text[], $3::date[], $4::int[]) AS u(c, i, d, w)
                    WHERE t.cpts = u.c AND t.code = u.i AND t.anchor_day = u.d
                      AND t.window_end IS NOT DISTINCT FROM u.w AND t.cases = 0""",
                *[[k[i] for k in shrunk] for i in range(4)],
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
