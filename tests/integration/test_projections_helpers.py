"""Helpers for the projections tests (no tests here): a cohort builder that writes the
events the pathway engine would, straight into the event store, and a harness that runs
the relay and the projections service until every view has caught up."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from contracts import facts as f
from contracts import pathway as ev
from contracts.events import Actor, NewEvent, patient_stream
from contracts.subjects import Subjects
from parcours import natsio
from parcours.eventstore import ANY, EventStore
from parcours.settings import Settings
from pathways.relay import Relay
from projections.app import create_app

UTC = dt.UTC
SYSTEM = Actor(id="engine", role="service")
FINESS = "750712184"
RPPS = "10000000001"


def day(anchor: dt.datetime, n: float, hour: int = 12) -> dt.datetime:
    """Noon (UTC) of day D+n counted from the anchor's date."""
    base = anchor.replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + dt.timedelta(days=n)


class Patient:
    """One patient's stream: facts and engine events, appended by ``flush``."""

    def __init__(self, cpts: str = "demo", patient_id: uuid.UUID | None = None) -> None:
        self.id = patient_id or uuid.uuid4()
        self.cpts = cpts
        self.stream = patient_stream(self.id)
        self.pending: list[NewEvent] = []
        self.tasks: dict[tuple[str, int], uuid.UUID] = {}

    def _add(self, data: Any, occurred_at: dt.datetime) -> uuid.UUID:
        event_id = uuid.uuid4()
        self.pending.append(
            NewEvent(
                event_id=event_id,
                data=data,
                occurred_at=occurred_at,
                correlation_id="test",
                actor=SYSTEM,
                cpts=self.cpts,
            )
        )
        return event_id

    def fact(self, payload: Any) -> uuid.UUID:
        return self._add(payload, f.occurred_at(payload))

    def discharge(self, at: dt.datetime, diagnoses: list[str]) -> uuid.UUID:
        return self.fact(
            f.DischargeReported(
                admitted_at=at - dt.timedelta(days=6),
                discharged_at=at,
                diagnoses=diagnoses,
                finess=FINESS,
            )
        )

    def enrol(
        self,
        protocol: str,
        version: str,
        anchor_at: dt.datetime,
        *,
        zone: str = "z1",
        anchor_type: str = "DischargeReported",
    ) -> uuid.UUID:
        self.enrolment = uuid.uuid4()
        self._add(
            ev.PatientEnrolled(
                enrolment_id=self.enrolment,
                protocol=protocol,
                protocol_version=version,
                anchor_type=anchor_type,
                anchor_at=anchor_at,
                zone=zone,
            ),
            anchor_at,
        )
        self.protocol, self.anchor = protocol, anchor_at
        return self.enrolment

    def schedule(
        self,
        activity: str,
        occurrence: int,
        role: str,
        earliest: dt.datetime,
        due: dt.datetime,
        assignee: str | None = None,
    ) -> uuid.UUID:
        task_id = uuid.uuid4()
        self.tasks[(activity, occurrence)] = task_id
        self._add(
            ev.TaskScheduled(
                task_id=task_id,
                enrolment_id=self.enrolment,
                protocol=self.protocol,
                activity=activity,
                occurrence=occurrence,
                role=role,
                earliest=earliest,
                due=due,
                assignee=assignee,
                zone="z1",
            ),
            earliest,
        )
        return task_id

    def complete(
        self,
        activity: str,
        occurrence: int,
        at: dt.datetime,
        on_time: bool,
        by_fact: uuid.UUID | None = None,
    ) -> uuid.UUID:
        return self._add(
            ev.TaskCompleted(
                task_id=self.tasks[(activity, occurrence)],
                completed_at=at,
                on_time=on_time,
                by_fact=by_fact,
            ),
            at,
        )

    def overdue(self, activity: str, occurrence: int, due: dt.datetime) -> uuid.UUID:
        task_id = self.tasks[(activity, occurrence)]
        self._add(ev.TaskOverdue(task_id=task_id, due=due), due)
        return self._add(
            ev.EscalationRaised(
                escalation_id=uuid.uuid4(),
                task_id=task_id,
                enrolment_id=self.enrolment,
                reason="overdue",
            ),
            due,
        )

    def cancel(self, activity: str, occurrence: int, at: dt.datetime, reason: str) -> uuid.UUID:
        return self._add(
            ev.TaskCancelled(task_id=self.tasks[(activity, occurrence)], reason=reason), at
        )

    def close(self, at: dt.datetime, reason: str) -> uuid.UUID:
        return self._add(ev.EnrolmentClosed(enrolment_id=self.enrolment, reason=reason), at)

    def pause(self, at: dt.datetime, reason: str = "readmission") -> uuid.UUID:
        return self._add(ev.EnrolmentPaused(enrolment_id=self.enrolment, reason=reason, at=at), at)


async def flush(pool: asyncpg.Pool, *patients: Patient) -> None:
    store = EventStore(pool)
    for p in patients:
        if p.pending:
            await store.append(p.stream, ANY, p.pending)
            p.pending = []


class Harness:
    """The relay and the projections service, running; ``settle`` waits for the views."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, client: AsyncTestClient) -> None:
        self.settings, self.pool, self.client = settings, pool, client

    async def settle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        store = EventStore(self.pool)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            head = await store.head()
            rows = await self.pool.fetch("SELECT view, txid, position FROM projection_checkpoints")
            at = {r["view"]: (r["txid"], r["position"]) for r in rows}
            if len(at) == 3 and all(v >= (head.txid, head.position) for v in at.values()):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"views did not catch up: head {head}, views {at}")
            await asyncio.sleep(0.05)

    async def get(self, path: str, token: str, **params: Any) -> Any:
        r = await self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json() if "json" in r.headers.get("content-type", "") else r.text


@contextlib.asynccontextmanager
async def running(settings: Settings, **app_options: Any) -> AsyncIterator[Harness]:
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=5)
    nc = await natsio.connect(settings, "projections-test-relay")
    await natsio.provision(nc.jetstream(), settings)
    relay = Relay(
        pool=pool,
        nc=nc,
        subjects=Subjects(settings.nats.prefix),
        database_url=settings.database.url,
        poll_interval=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        async with AsyncTestClient(app=create_app(settings, **app_options), timeout=30) as client:
            yield Harness(settings, pool, client)
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await nc.drain()
        await pool.close()
