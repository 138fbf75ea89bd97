"""Read a patient's tasks from the event store, as the decider folds them (for tests that
act on a pool task through the API: claim it, complete it)."""

from __future__ import annotations

import uuid

import asyncpg

from contracts.events import payload_decoder
from parcours.eventstore import EventStore
from pathways.domain import PatientState, fold


async def patient_state(database_url: str, patient_id: uuid.UUID | str) -> PatientState:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await EventStore(conn).read_stream(f"patient-{patient_id}")
    finally:
        await conn.close()
    return fold([(r.event_id, payload_decoder.decode(r.data)) for r in rows])


async def open_pool_task(database_url: str, patient_id: uuid.UUID | str, role: str) -> uuid.UUID:
    """The soonest-due open pool task of ``role`` for this patient."""
    state = await patient_state(database_url, patient_id)
    tasks = [t for t in state.tasks.values() if t.role == role and t.assignee is None and t.is_open]
    assert tasks, f"the patient has no open {role} pool task"
    return min(tasks, key=lambda t: t.due).task_id
