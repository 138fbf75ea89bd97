"""No single machine to lose: the fault table (``make test-faults``).

A replicated system (``cluster_system``: 3 NATS nodes, a PostgreSQL primary and its
synchronous standby, two instances of every process) takes a steady load of facts, posted
to both pathways instances, while these happen one after the other:

1. kill -9 the NATS node leading the events stream (then it comes back);
2. pause the NATS node leading the events stream for 10 s (SIGSTOP, then SIGCONT);
3. kill -9 the leading relay and one instance of each other process (the one leading its
   consumers; then they come back);
4. kill -9 the PostgreSQL primary and promote the standby (the services follow through
   their multi-host URL, without a restart).

After each, once settled: every acknowledged fact stored exactly once, every event applied
to every view exactly once, every task notified exactly once per subject (counted raw on
NATS after a marker). The time from the fault until a new discharge went end to end is
its recovery time. At the end, every fact whose answer was lost (a transport error or a
timeout: unknown outcome) and every fact sent during the failover is posted again with its
event id: answered 200 when it had been committed (always, for those acknowledged: found
by event id on the promoted standby), 201 when it had not, and stored once either way.

A table is printed: fault, recovery seconds, the counts, lost, duplicated.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.subjects import Subjects
from parcours import natsio
from tests.conftest import _scratch_dir
from tests.faults.cluster_system import ClusterSystem, cluster_system
from tests.faults.fault_table import Row, probe, row, settle
from tests.faults.load import Ledger, steady_load
from tests.integration.conftest import eventually

pytestmark = [pytest.mark.faults, pytest.mark.cluster, pytest.mark.timeout(1800)]

RATE = float(os.environ.get("PARCOURS_FAULTS_RATE", "15"))  # facts/s, a fifth discharges
SEED = int(os.environ.get("PARCOURS_FAULTS_SEED", "20261207"))
PAUSE = 10.0  # how long a NATS node stays stopped
FAILOVER = "kill -9 the PostgreSQL primary, promote the standby"


@pytest.fixture
def replicated() -> Iterator[ClusterSystem]:
    with _scratch_dir("cluster-system") as home:
        logs = Path(home) / "logs"
        logs.mkdir()
        with cluster_system(Path(home), logs) as system:
            yield system


async def _events_leader(system: ClusterSystem) -> int:
    assert system.settings is not None
    nc = await natsio.connect(system.settings, "fault-leader")
    try:
        stream = Subjects(system.settings.nats.prefix).events_stream
        info = await nc.jetstream(timeout=10).stream_info(stream)
        return int(info.cluster.leader.removeprefix("n")) - 1
    finally:
        await nc.close()


async def _replicas_current(system: ClusterSystem) -> bool:
    """Both streams at three current replicas (a node back has caught up)."""
    assert system.settings is not None
    subjects = Subjects(system.settings.nats.prefix)
    try:
        nc = await natsio.connect(system.settings, "fault-replicas")
    except Exception:  # noqa: BLE001 - not yet
        return False
    try:
        js = nc.jetstream(timeout=5)
        for stream in (subjects.events_stream, subjects.notifications_stream):
            info = await js.stream_info(stream)
            replicas = info.cluster.replicas or []
            if not info.cluster.leader or len(replicas) != 2:
                return False
            if not all(r.current for r in replicas):
                return False
        return True
    except Exception:  # noqa: BLE001 - a leader being elected
        return False
    finally:
        await nc.close()


async def _now(system: ClusterSystem) -> dt.datetime:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            system.urls("pathways")[0] + "/v1/admin/clock",
            headers={"Authorization": f"Bearer {system.token('admin')}"},
        )
    return dt.datetime.fromisoformat(answer.json()["now"])


async def _send_again(system: ClusterSystem, ledger: Ledger, phase: str) -> tuple[list[str], str]:
    """Post again, with the same event id, every fact whose answer was lost (unknown
    outcome: answered 200 if it had been committed, else 201) and every fact sent during
    ``phase`` (the failover): those acknowledged then must be answered 200, found by their
    event id on the promoted standby."""
    again = [s for s in ledger.sent if s.outcome in ("error", "timeout") or s.phase == phase]
    problems, answers = [], Counter[str]()
    headers = {"Authorization": f"Bearer {system.token('discharge-system')}"}
    async with httpx.AsyncClient(timeout=10.0, headers=headers) as client:
        for n, sent in enumerate(again):
            url = system.urls("pathways")[n % 2]
            answer = await client.post(f"{url}/v1/facts", json=sent.body)
            code = str(answer.status_code)
            answers[f"{sent.outcome} then {code}"] += 1
            if code not in ("200", "201") or (sent.outcome.startswith("2") and code != "200"):
                problems.append(f"{sent.event_id} {sent.outcome}, sent again: {code}")
            if not sent.outcome.startswith("2"):
                sent.outcome = f"{code} sent again"
    return problems, ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))


async def test_the_fault_table(replicated: ClusterSystem, capsys: pytest.CaptureFixture) -> None:
    system, rng = replicated, random.Random(SEED)
    ledger, rows = Ledger(), list[Row]()
    at = await _now(system)
    patients = iter(range(90_000, 99_999))
    loads: list[tuple[asyncio.Event, asyncio.Task]] = []

    def load_on() -> None:  # a phase's own patients, so that each discharge is a new one
        stop = asyncio.Event()
        first = 50_000 + 5_000 * len(loads)
        task = asyncio.create_task(
            steady_load(
                system.urls("pathways"),
                system.token("discharge-system"),
                at,
                stop,
                RATE,
                ledger,
                SEED + len(loads),
                first_patient=first,
            )
        )
        loads.append((stop, task))

    async def load_off() -> None:
        stop, task = loads[-1]
        stop.set()
        await task

    async def after(fault: str, started: float, repair) -> None:  # type: ignore[no-untyped-def]
        """Recovery under load; then the load stops, the fault is repaired, all settles and
        the counts are taken (a count taken while facts arrive would race them)."""
        recovery = await probe(system, at, next(patients), started, rng)
        await asyncio.sleep(2.0)  # some load after the recovery too
        await load_off()
        await repair()
        await settle(system, at, next(patients), rng)
        rows.append(await row(system, fault, recovery, ledger))
        ledger.phase = "steady"
        load_on()

    load_on()
    try:
        await eventually(lambda: _acknowledged(ledger, 20), timeout=120)

        ledger.phase = "kill the NATS stream leader"
        victim = system.nats.nodes[await _events_leader(system)]
        started = time.monotonic()
        victim.kill()

        async def restart_node() -> None:
            await asyncio.to_thread(victim.start)
            await eventually(lambda: _replicas_current(system), timeout=180, interval=0.5)

        await after(ledger.phase, started, restart_node)

        ledger.phase = f"pause a NATS node {PAUSE:.0f} s"
        paused = system.nats.nodes[await _events_leader(system)]
        assert paused.pid is not None
        started = time.monotonic()
        os.kill(paused.pid, signal.SIGSTOP)
        await asyncio.sleep(PAUSE)  # the fault's length (the checks poll, below)
        os.kill(paused.pid, signal.SIGCONT)

        async def caught_up() -> None:
            await eventually(lambda: _replicas_current(system), timeout=180, interval=0.5)

        await after(ledger.phase, started, caught_up)

        ledger.phase = "kill -9 the relay leader and one of each process"
        victims = [system.leader_of(s) or f"{s}-1" for s in ("relay", "notifications")]
        victims += [system.leader_of("projections") or "projections-1", "pathways-1"]
        started = time.monotonic()
        for instance in victims:
            system.kill(instance)

        async def restart_processes() -> None:
            for instance in victims:
                await asyncio.to_thread(system.start, instance)

        await after(ledger.phase, started, restart_processes)

        ledger.phase = FAILOVER
        started = time.monotonic()
        system.primary.kill()
        await system.standby.promote()

        async def nothing() -> None:
            pass

        await after(ledger.phase, started, nothing)
    finally:
        for stop, task in loads:
            stop.set()
            await task
    resent, answers = await _send_again(system, ledger, FAILOVER)
    await settle(system, at, next(patients), rng)
    rows.append(
        await row(
            system, "the failover's facts and those of unknown outcome sent again", 0.0, ledger
        )
    )
    table = "\n".join([Row.HEADER, *(r.line() for r in rows)])
    with capsys.disabled():
        print(f"\n\nfault table ({RATE:.0f} facts/s, seed {SEED}; counts since the start)")
        print(table)
        print(f"outcomes per phase: {ledger.by_phase()}")
        print(f"sent again with the same event ids (outcome then answer): {answers}\n")
    assert not resent, "\n".join(resent[:10])
    for r in rows:
        assert not r.problems, f"{r.fault}: " + "\n".join(r.problems[:20])
        assert (r.lost, r.duplicated) == (0, 0), r
    unexpected = {
        phase: dict(outcomes)
        for phase, outcomes in ledger.by_phase().items()
        if set(outcomes)
        - {"200", "201", "503", "error", "timeout", "200 sent again", "201 sent again"}
    }
    assert not unexpected, unexpected  # never a 500, a 4xx


async def _acknowledged(ledger: Ledger, n: int) -> bool:
    return len(ledger.acknowledged) >= n
