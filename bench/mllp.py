"""``parcours bench mllp``: HL7 v2 ADT^A03 over MLLP, ACK after commit, against POST /v1/facts.

In one run, against the same durable PostgreSQL: ``parcours serve mllp`` and
``parcours serve pathways`` (and the relay) as processes; each message is a
heart-failure discharge of a new patient (the fact, the enrolment and its
tasks), sent as soon as the previous ACK arrived on its connection:
1. MLLP on 1 connection, then on 8 connections: messages/s, ACK p50/p99;
2. the same discharges as JSON on ``POST /v1/facts`` with 8 clients;
3. the ratio MLLP (8 connections) / POST (8 clients).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from bench.environment import bench_settings, relay_process, service_process
from bench.httpload import Results, closed_loop
from bench.ingest import discharge_body
from contracts.identity import synthetic_ins
from parcours.auth import mint
from parcours.devstack import free_port
from parcours.settings import Settings

START, END = b"\x0b", b"\x1c\x0d"


def a03(n: int) -> bytes:
    """A synthetic PAM France discharge home for heart failure, patient n (test INS)."""
    segments = [
        f"MSH|^~\\&|BENCH|CHU-BENCH|PARCOURS|CPTS|20260308140000||ADT^A03^ADT_A03|B{n}|P|2.5",
        "EVN||20260308140000||||20260308140000",
        f"PID|1||IPP{n}^^^CHU-BENCH&750712184&M^PI~{synthetic_ins(n)}^^^INS-NIR&1.2.250.1.213.1.4.10&ISO^INS"
        "||BENCH^PATIENT^^^^^L||19500101|F" + "|" * 24 + "QUAL",
        "PV1|1|I|CARDIO^^^CHU-BENCH&750712184&M" + "|" * 41 + "20260301100000|20260308150000",
        "DG1|1||I50.1^IC^I10||||||||||||1",
        "ZFM|8|8|8",
    ]
    return START + "\r".join(segments).encode() + b"\r" + END


@contextlib.contextmanager
def mllp_process(settings: Settings, port: int) -> Iterator[None]:
    env = {**os.environ, **settings.env(), "PARCOURS_MLLP_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "parcours.cli", "serve", "mllp"], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the MLLP listener did not start")
            try:
                socket.create_connection((settings.host, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def mllp_loop(
    host: str, port: int, *, first: int, connections: int, duration: float, warmup: float = 1.0
) -> Results:
    results = Results()
    counter = first
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def client() -> None:
        nonlocal counter
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (now := time.perf_counter()) < stop_at:
                counter += 1
                writer.write(a03(counter))
                ack = await reader.readuntil(END)
                done = time.perf_counter()
                code = 200 if b"MSA|AA|" in ack else 500
                if now >= measure_from:
                    results.latencies.append(done - now)
                    results.statuses[code] = results.statuses.get(code, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    results.elapsed = time.perf_counter() - measure_from
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parcours bench mllp", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)

    with bench_settings(durable=True, clock="virtual") as settings:
        token = mint(settings, sub="BENCH-DPI", role="discharge-system", cpts="demo")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        host, mllp_port, http_port = settings.host, free_port(), settings.pathways_port
        with (
            relay_process(settings),
            service_process(settings, "parcours.cli", http_port, "serve", "pathways"),
            mllp_process(settings, mllp_port),
        ):
            one = asyncio.run(
                mllp_loop(host, mllp_port, first=10**6, connections=1, duration=args.duration)
            )
            many = asyncio.run(
                mllp_loop(
                    host, mllp_port, first=2 * 10**6, connections=args.connections,
                    duration=args.duration,
                )
            )  # fmt: skip
            http = asyncio.run(
                closed_loop(host, http_port, path="/v1/facts",
                            make_body=lambda n: discharge_body(3 * 10**6 + n), headers=headers,
                            concurrency=args.connections, duration=args.duration)
            )  # fmt: skip
    print("ADT^A03 heart-failure discharges (each enrols a new patient), ACK after commit")
    print(f"MLLP, 1 connection        {one.summary()}")
    print(f"MLLP, {args.connections} connections       {many.summary()}")
    print(f"POST /v1/facts, {args.connections} clients {http.summary()}")
    print(f"  ratio MLLP / POST       {many.rate / http.rate:.2f}")
    return 0
