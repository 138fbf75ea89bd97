"""The care view: versioned enrolments and tasks, and escalations (worklists, mission report)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import msgspec

from projections.domain.care import (
    EnrolmentRow,
    TaskRow,
    enrolment_key,
    escalation_row,
    evolve_enrolment,
    evolve_task,
    task_key,
)
from projections.domain.patients import patient_of
from projections.domain.pseudonyms import pseudonym
from projections.versioned import VersionedTable
from projections.views import Item

ENROLMENTS = VersionedTable("proj_enrolments", "enrolment_id", EnrolmentRow)
TASKS = VersionedTable("proj_tasks", "task_id", TaskRow)


class CareView:
    name = "care"
    tables = ("proj_enrolments", "proj_tasks", "proj_escalations")

    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None:
        enrolment_keys = {k for i in items if (k := enrolment_key(i.envelope)) is not None}
        task_keys = {k for i in items if (k := task_key(i.envelope)) is not None}
        enrolments = await ENROLMENTS.load(conn, tables["proj_enrolments"], enrolment_keys)
        tasks = await TASKS.load(conn, tables["proj_tasks"], task_keys)
        escalations = []
        for item in items:
            env = item.envelope
            if (key := enrolment_key(env)) is not None:
                before = enrolments.current(key)
                alias = ""
                if before is None and (patient := patient_of(env.stream)):
                    alias = pseudonym(self.secret, env.cpts, patient)
                after = evolve_enrolment(before, env, alias)
                if after is not None and after is not before:
                    enrolments.put(key, after, item.visible_at)
            if (key := task_key(env)) is not None:
                before_task = tasks.current(key)
                after_task = evolve_task(before_task, env)
                if after_task is not None and after_task is not before_task:
                    tasks.put(key, after_task, item.visible_at)
            if env.type == "EscalationRaised" and (row := escalation_row(env)) is not None:
                escalations.append(msgspec.structs.astuple(row))
        await ENROLMENTS.write(conn, tables["proj_enrolments"], enrolments)
        await TASKS.write(conn, tables["proj_tasks"], tasks)
        if escalations:
            await conn.executemany(
                f"INSERT INTO {tables['proj_escalations']} (escalation_id, cpts, patient_id, "
                "enrolment_id, task_id, reason, urgent, occurred_at, recorded_at, event_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                escalations,
            )
