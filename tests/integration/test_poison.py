"""The poison suite: no stored event stops a pipeline for another tenant or patient.

For each kind of hostile but storable event, written straight into the event store in
CPTS ``alpha`` (for every event type where the kind applies), a normal discharge in
CPTS ``beta`` still produces its tasks, its notifications (on NATS) and its timeline
within seconds; each hostile event is in the dead-letter table for the consumers that
could not handle it (relay, timer index, notifications router and outbox, projection
views); no worker crashed. Then: the admin and coordinators read the letters, a fixed
event is replayed in order by the CLI, and a worker that does crash turns
``/health/ready`` non-ready.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import nats
import pytest
from nats.js.api import DeliverPolicy

from contracts.events import EVENT_TYPES, category_of
from contracts.identity import synthetic_ins
from contracts.subjects import Subjects
from notifications.app import create_app as notifications_app
from parcours.cli import main as cli
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from pathways.timer_index import INDEXED_TYPES
from projections.app import create_app as projections_app
from tests.integration.conftest import bearer, eventually, serving
from tests.integration.test_walking_skeleton import discharge

SAMPLES = Path(__file__).parents[2] / "contracts" / "samples"
SAMPLE_ID = "00000000-0000-4000-8000-000000000001"
TYPES = sorted(EVENT_TYPES)
HOSTILE_ASSIGNEE = "Dr. Martin (remplaçant)"


def sample(event_type: str, **over: Any) -> dict[str, Any]:
    """The golden sample's payload, with fresh ids (no two hostile events share a task)."""
    data = json.loads((SAMPLES / f"{event_type}.json").read_text())["data"]
    fresh = str(uuid.uuid4())
    data = {k: (fresh if v == SAMPLE_ID else v) for k, v in data.items()}
    return {**data, **over}


class Bad(NamedTuple):
    """A hostile event, and the consumers that must set it aside."""

    type: str
    data: dict[str, Any]
    consumers: frozenset[str]
    cpts: str = "alpha"
    stream: str = ""  # "": a new patient's stream
    correlation_id: str = "poison"
    parked: bool = False  # waits behind the previous event of its stream
    follows: bool = False  # on the previous event's stream


def _all(builder: Callable[[str], Bad]) -> list[Bad]:
    return [builder(t) for t in TYPES]


def _undecodable(event_type: str) -> Bad:
    fields = {k: {"not": "this"} for k in sample(event_type) if k != "type"}
    consumers = {"projections"}
    if category_of(event_type) == "task":
        consumers.add("notifications-router")
    if event_type in INDEXED_TYPES:
        consumers.add("pathways-timers")
    return Bad(event_type, {"type": event_type, **fields}, frozenset(consumers))


def _tokens() -> list[Bad]:
    router = frozenset({"notifications-router"})
    on_one = f"patient-{uuid.uuid4()}"
    pooled, reassigned = f"patient-{uuid.uuid4()}", f"patient-{uuid.uuid4()}"
    scheduled = sample("TaskScheduled", assignee=HOSTILE_ASSIGNEE)
    pool_task = sample("TaskScheduled", role="nurse")
    other_pool_task = sample("TaskScheduled", role="nurse")
    ok = frozenset()
    return [
        Bad("TaskScheduled", scheduled, router, stream=on_one),
        Bad(
            "TaskAccepted",
            sample("TaskAccepted", task_id=scheduled["task_id"], by="10000000002"),
            router,
            stream=on_one,
            parked=True,
        ),
        Bad("TaskScheduled", sample("TaskScheduled", role="nurse.night"), router),
        Bad("TaskScheduled", pool_task, ok, stream=pooled),
        Bad(
            "TaskAccepted",
            sample("TaskAccepted", task_id=pool_task["task_id"], by="*"),
            router,
            stream=pooled,
        ),  # noqa: E501
        Bad("TaskScheduled", other_pool_task, ok, stream=reassigned),
        Bad(
            "TaskReassigned",
            sample("TaskReassigned", task_id=other_pool_task["task_id"], assignee="1 2"),
            router,
            stream=reassigned,
        ),
    ]


def _oversized_notification() -> list[Bad]:
    stream = f"patient-{uuid.uuid4()}"
    task = sample("TaskScheduled", role="nurse", activity="a" * 600_000)
    cancelled = sample("TaskCancelled", task_id=task["task_id"], reason="r" * 600_000)
    return [
        Bad("TaskScheduled", task, frozenset(), stream=stream),
        Bad("TaskCancelled", cancelled, frozenset({"notifications-outbox"}), stream=stream),
    ]


def _undecidable() -> list[Bad]:
    """An enrolment in a protocol the catalog does not hold, and its task due long ago:
    firing its overdue timer asks the protocol for escalation and fails."""
    enrolment = sample("PatientEnrolled", protocol="no-such-protocol")
    task = sample("TaskScheduled", enrolment_id=enrolment["enrolment_id"])
    return [
        Bad("PatientEnrolled", enrolment, frozenset()),
        Bad("TaskScheduled", task, frozenset({"pathways-timers"}), follows=True),
    ]


CASES: dict[str, Callable[[], list[Bad]]] = {
    "cpts token NATS refuses": lambda: _all(
        lambda t: Bad(t, sample(t), frozenset({"relay"}), cpts="alpha.evil")
    ),
    "header with a line break": lambda: _all(
        lambda t: Bad(t, sample(t), frozenset({"relay"}), correlation_id="x\r\nNats-Msg-Id: y")
    ),
    "payload that fails decoding": lambda: _all(_undecodable),
    "unknown payload type": lambda: [
        Bad("Teleported", {"type": "Teleported"}, frozenset({"projections"})),
        Bad(
            "TaskTeleported",
            {"type": "TaskTeleported", "task_id": str(uuid.uuid4())},
            frozenset({"projections", "notifications-router"}),
        ),
    ],
    "role and assignee tokens NATS refuses": _tokens,
    "a due date at the end of the calendar": lambda: [
        Bad(
            "TaskScheduled",
            sample("TaskScheduled", earliest="9999-12-31T00:00:00Z", due="9999-12-31T23:59:59Z"),
            frozenset({"pathways-timers"}),
        ),
        Bad(
            "PatientEnrolled",
            sample(
                "PatientEnrolled",
                protocol="heart-failure-discharge",
                anchor_at="9999-12-31T23:59:59Z",
            ),
            frozenset({"projections-care", "projections-indicators"}),
        ),
    ],
    "a stream that names no patient": lambda: _all(
        lambda t: Bad(
            t, sample(t), frozenset({"projections-timeline"}), stream=f"patient-x{uuid.uuid4()}"
        )
    ),
    "a notification larger than NATS accepts": _oversized_notification,
    "a stream the scheduler cannot fold": lambda: [
        Bad("TaskScheduled", sample("TaskScheduled"), frozenset()),  # due long ago: fires
        Bad(
            "LabResultReported",
            {"type": "LabResultReported", "loinc": {"not": "this"}},
            frozenset({"projections", "pathways-timers"}),
            follows=True,  # the task's patient: the scheduler folds it to fire the task's timers
        ),
    ],
    "a stream the scheduler cannot decide": _undecidable,
}


async def store(conn: asyncpg.Connection, bad: list[Bad]) -> list[tuple[uuid.UUID, Bad]]:
    """Write the hostile events as stored rows (what any writer could have left there)."""
    written, versions, last = [], {}, ""
    for b in bad:
        stream = b.stream or (last if b.parked or b.follows else f"patient-{uuid.uuid4()}")
        versions[stream] = versions.get(stream, 0) + 1
        event_id = uuid.uuid4()
        await conn.execute(
            """INSERT INTO events (event_id, stream, version, type, cpts, occurred_at,
                                   correlation_id, actor_id, actor_role, data)
               VALUES ($1, $2, $3, $4, $5, now(), $6, 'SYS-1', 'discharge-system', $7::jsonb)""",
            event_id,
            stream,
            versions[stream],
            b.type,
            b.cpts,
            b.correlation_id,
            json.dumps(b.data),
        )
        written.append((event_id, b))
        last = stream
    return written


async def beta_arrives(settings: Settings, pathways, projections, token, n: int) -> None:
    """A normal discharge in CPTS beta: its tasks, notifications and timeline, in seconds."""
    subjects = Subjects(settings.nats.prefix)
    nc = await nats.connect(settings.nats.url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            f"{settings.nats.prefix}.beta.>",
            stream=subjects.notifications_stream,
            deliver_policy=DeliverPolicy.NEW,
        )
        hospital = bearer(token("discharge-system", sub="CHU-1", cpts="beta"))
        posted = await pathways.post(
            "/v1/facts", json=discharge(ins=synthetic_ins(n)), headers=hospital
        )
        assert posted.status_code == 201, posted.text
        patient = posted.json()["stream"].removeprefix("patient-")
        assert posted.json()["consequences"] > 0

        kinds: set[str] = set()

        async def notified() -> bool:
            """Its tasks announced, and (their due dates long past) timers fired: overdue."""
            while True:  # every message there (other patients of beta are notified too)
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except nats.errors.TimeoutError:
                    return {"scheduled", "overdue"} <= kinds
                note = json.loads(msg.data)
                if note.get("patient_id") == patient:
                    kinds.add(note["kind"])

        await eventually(notified, timeout=20)
        reader = bearer(token("coordinator", sub="COORD-1", cpts="beta"))  # reads every patient

        async def timeline() -> Any:
            r = await projections.get(f"/v1/patients/{patient}/timeline", headers=reader)
            return r.status_code == 200 and r.json()["entries"]

        await eventually(timeline, timeout=20)
        conn = await asyncpg.connect(settings.database.url)
        try:
            pid = uuid.UUID(patient)
            await eventually(
                lambda: conn.fetchval("SELECT count(*) FROM proj_tasks WHERE patient_id = $1", pid),
                timeout=20,
            )
            await eventually(
                lambda: conn.fetchval(
                    "SELECT count(*) FROM notification_tasks WHERE patient_id = $1", pid
                ),
                timeout=20,
            )
        finally:
            await conn.close()
    finally:
        await nc.close()


def running(settings: Settings):  # type: ignore[no-untyped-def]
    return (
        serving(pathways_app(settings)),
        serving(notifications_app(settings)),
        serving(projections_app(settings)),
    )


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hostile_event_in_one_cpts_stops_nothing_for_another(settings, token, case):
    n = 200 + list(CASES).index(case)
    conn = await asyncpg.connect(settings.database.url)
    p, no, pr = running(settings)
    try:
        written = await store(conn, CASES[case]())  # already stored when the services start
        async with p as pathways, no as notifications, pr as projections:
            await beta_arrives(settings, pathways, projections, token, n)

            async def set_aside() -> list:
                rows = await conn.fetch(
                    "SELECT consumer, event_id, reason, parked_behind FROM dead_letters "
                    "WHERE event_id = ANY($1::uuid[]) AND replayed_at IS NULL",
                    [e for e, _ in written],
                )
                found = {(r["consumer"], r["event_id"]) for r in rows}
                missing = [
                    (b.type, c) for e, b in written for c in b.consumers if (c, e) not in found
                ]
                return rows if not missing else (None, missing)

            rows = await eventually(lambda: _truthy(set_aside()), timeout=20)
            for r in rows:
                assert r["reason"] and "Martin" not in r["reason"]
            parked = {r["event_id"]: r["parked_behind"] for r in rows}
            for (previous, _), (event_id, b) in zip(written, written[1:], strict=False):
                if b.parked:
                    assert parked[event_id] == previous
            for client in (pathways, notifications, projections):
                ready = await client.get("/health/ready")
                assert ready.status_code == 200, ready.text
    finally:
        await conn.close()


async def _truthy(result: Any) -> Any:
    value = await result
    return value if not isinstance(value, tuple) else None


async def test_letters_are_shown_to_the_admin_and_to_their_cpts_coordinators_only(settings, token):
    async with serving(pathways_app(settings, with_relay=False, with_scheduler=False)) as api:

        def read(role: str, mine: str, **params: Any) -> Any:
            return api.get(
                "/v1/admin/dead-letters", params=params, headers=bearer(token(role, cpts=mine))
            )

        admin = (await read("admin", "ops")).json()
        assert admin["open"] > 0
        assert {"alpha", "alpha.evil"} <= {c["cpts"] for c in admin["counts"]}
        alpha = (await read("coordinator", "alpha")).json()
        assert alpha["open"] > 0 and {c["cpts"] for c in alpha["counts"]} == {"alpha"}
        assert all(d["cpts"] == "alpha" for d in alpha["dead_letters"])
        assert (await read("coordinator", "beta")).json()["open"] == 0
        assert (await read("coordinator", "beta", cpts="alpha")).status_code == 403
        assert (await read("auditor", "alpha")).status_code == 403


async def test_a_fixed_event_is_replayed_in_order_by_the_cli(settings, token, monkeypatch):
    conn = await asyncpg.connect(settings.database.url)
    try:
        p, no, _ = running(settings)
        async with p, no:
            written = await store(conn, _tokens()[:2])  # a bad assignee, then an accept
            (first, _), (second, _) = written
            await eventually(
                lambda: conn.fetchval(
                    "SELECT count(*) = 2 FROM dead_letters WHERE event_id = ANY($1::uuid[])",
                    [first, second],
                )
            )
            # the fix: an operator migrates the stored value to a valid RPPS
            await conn.execute(
                """UPDATE events SET data = jsonb_set(data, '{assignee}', '"10000000002"')
                   WHERE event_id = $1""",
                first,
            )
            for key, value in settings.env().items():
                monkeypatch.setenv(key, value)
            stream = await conn.fetchval("SELECT stream FROM events WHERE event_id = $1", first)
            status = await asyncio.to_thread(
                cli, ["dead-letters", "replay", "notifications-router", "--stream", stream]
            )
            assert status == 0
            task = await conn.fetchrow(
                "SELECT t.assignee, t.status FROM notification_tasks t JOIN events e "
                "ON e.data->>'task_id' = t.task_id::text WHERE e.event_id = $1",
                first,
            )
            # the accept applied after its task was scheduled: in order
            assert (task["assignee"], task["status"]) == ("10000000002", "accepted")
            left = await conn.fetchval(
                "SELECT count(*) FROM dead_letters WHERE event_id = ANY($1::uuid[]) "
                "AND replayed_at IS NULL",
                [first, second],
            )
            assert left == 0
            # and the professional heard of it, in order: scheduled, then accepted
            nc = await nats.connect(settings.nats.url)
            try:
                subject = Subjects(settings.nats.prefix).professional("alpha", "gp", "10000000002")
                sub = await nc.jetstream().subscribe(
                    subject, stream=Subjects(settings.nats.prefix).notifications_stream
                )
                kinds = [json.loads((await sub.next_msg(timeout=10)).data)["kind"] for _ in "ab"]
                assert kinds == ["scheduled", "accepted"]
            finally:
                await nc.close()
    finally:
        await conn.close()


async def test_a_crashed_worker_turns_health_not_ready(settings, token):
    conn = await asyncpg.connect(settings.database.url)
    p, no, _ = running(settings)
    try:
        async with p as pathways, no as notifications:
            assert (await notifications.get("/health/ready")).status_code == 200
            # a systemic fault (the table every batch reads is gone): not poison, a crash
            await conn.execute("ALTER TABLE dead_letters RENAME TO dead_letters_away")
            await store(conn, [Bad("TaskScheduled", sample("TaskScheduled"), frozenset())])

            async def not_ready(client, worker: str) -> Any:  # type: ignore[no-untyped-def]
                r = await client.get("/health/ready")
                return r.status_code == 503 and worker in r.json()["checks"].get("workers", "")

            await eventually(lambda: not_ready(pathways, "run_relay"))
            # the relay is down: a task event reaches the router straight from NATS
            envelope = json.loads((SAMPLES / "TaskScheduled.json").read_text())
            envelope.update(event_id=str(uuid.uuid4()), cpts="alpha", data=sample("TaskScheduled"))
            nc = await nats.connect(settings.nats.url)
            try:
                subject = Subjects(settings.nats.prefix).events("alpha", "task")
                await nc.jetstream().publish(subject, json.dumps(envelope).encode())
            finally:
                await nc.close()
            await eventually(lambda: not_ready(notifications, "run_router"))
    finally:
        await conn.execute("ALTER TABLE IF EXISTS dead_letters_away RENAME TO dead_letters")
        await conn.close()


async def test_a_relay_letter_replayed_after_a_fix_reaches_the_views_behind_them(
    settings, token, monkeypatch
):
    conn = await asyncpg.connect(settings.database.url)
    try:
        p, no, pr = running(settings)
        async with p as pathways, no, pr as projections:
            bad = Bad("DischargeReported", sample("DischargeReported"), frozenset({"relay"}))
            [(event_id, _)] = await store(conn, [bad._replace(correlation_id="a\nb")])
            stream = await conn.fetchval("SELECT stream FROM events WHERE event_id = $1", event_id)
            # the views move past it meanwhile: a later discharge in beta arrives
            await beta_arrives(settings, pathways, projections, token, 300)
            assert await conn.fetchval(
                "SELECT count(*) FROM dead_letters WHERE consumer = 'relay' AND event_id = $1 "
                "AND replayed_at IS NULL",
                event_id,
            )
            # the fix, then the replay: published late, applied behind the views' checkpoints
            await conn.execute(
                "UPDATE events SET correlation_id = 'fixed' WHERE event_id = $1", event_id
            )
            for key, value in settings.env().items():
                monkeypatch.setenv(key, value)
            replay = ["dead-letters", "replay", "relay", "--stream", stream]
            assert await asyncio.to_thread(cli, replay) == 0
            await eventually(
                lambda: conn.fetchval("SELECT count(*) FROM timeline WHERE event_id = $1", event_id)
            )
    finally:
        await conn.close()


async def test_every_view_rebuilds_past_the_hostile_events(settings):
    from projections.app import load_catalog
    from projections.rebuild import rebuild
    from projections.views import build_views

    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=4)
    try:
        before = await pool.fetchval("SELECT count(*) FROM timeline WHERE cpts = 'beta'")
        assert before > 0  # the discharges of beta above
        for view in build_views(settings.auth.pseudonym_secret, load_catalog(settings)).values():
            result = await rebuild(pool, view, batch=50)
            assert result.events > 0
        assert await pool.fetchval("SELECT count(*) FROM timeline WHERE cpts = 'beta'") == before
        for view in ("projections-timeline", "projections-care", "projections-indicators"):
            assert await pool.fetchval(
                "SELECT count(*) FROM dead_letters WHERE consumer = $1 AND replayed_at IS NULL",
                view,
            )
    finally:
        await pool.close()


REPLAYS = {
    # consumer: (the hostile event, the fix an operator applies, what shows it applied)
    "pathways-timers": (
        Bad("TaskScheduled", sample("TaskScheduled", due="9999-12-31T23:59:59Z"), frozenset()),
        "UPDATE events SET data = jsonb_set(data, '{due}', '\"2099-01-01T00:00:00Z\"') "
        "WHERE event_id = $1",
        "SELECT count(*) FROM timers t JOIN events e ON e.data->>'task_id' = t.task_id::text "
        "WHERE e.event_id = $1",
    ),
    "projections-care": (
        Bad(
            "PatientEnrolled",
            sample(
                "PatientEnrolled",
                protocol="heart-failure-discharge",
                anchor_at="9999-12-31T23:59:59Z",
            ),
            frozenset(),
        ),
        "UPDATE events SET data = jsonb_set(data, '{anchor_at}', '\"2026-03-08T14:00:00Z\"') "
        "WHERE event_id = $1",
        "SELECT count(*) FROM proj_enrolments p JOIN events e "
        "ON e.data->>'enrolment_id' = p.enrolment_id::text WHERE e.event_id = $1",
    ),
    "projections": (
        Bad("DischargeReported", {"type": "DischargeReported", "finess": 1}, frozenset()),
        "UPDATE events SET data = $2::jsonb WHERE event_id = $1",
        "SELECT count(*) FROM timeline WHERE event_id = $1",
    ),
}


@pytest.mark.parametrize("consumer", list(REPLAYS))
async def test_a_letter_replayed_after_a_fix_is_applied(settings, monkeypatch, consumer):
    bad, fix, applied = REPLAYS[consumer]
    conn = await asyncpg.connect(settings.database.url)
    try:
        p, _, pr = running(settings)
        async with p, pr:
            [(event_id, _)] = await store(conn, [bad])
            await eventually(
                lambda: conn.fetchval(
                    "SELECT count(*) FROM dead_letters WHERE consumer = $1 AND event_id = $2 "
                    "AND replayed_at IS NULL",
                    consumer,
                    event_id,
                )
            )
            assert await conn.fetchval(applied, event_id) == 0
            args = [json.dumps(sample("DischargeReported"))] if "$2" in fix else []
            await conn.execute(fix, event_id, *args)
            stream = await conn.fetchval("SELECT stream FROM events WHERE event_id = $1", event_id)
            for key, value in settings.env().items():
                monkeypatch.setenv(key, value)
            replay = ["dead-letters", "replay", consumer, "--stream", stream]
            assert await asyncio.to_thread(cli, replay) == 0
            assert await conn.fetchval(applied, event_id) > 0
    finally:
        await conn.close()
