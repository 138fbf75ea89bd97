"""A small keep-alive HTTP/1.1 load client on raw asyncio streams.

httpx costs more CPU per request than the server under test on a 2-core
machine; this client writes a prepared request and reads the answer with
nothing else in between, so the figures measure the server.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def summary(self) -> str:
        return (
            f"{self.rate:9.0f} req/s  p50 {self.percentile(50):6.1f} ms  "
            f"p95 {self.percentile(95):6.1f} ms  p99 {self.percentile(99):6.1f} ms  "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        answer_headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        length = int(answer_headers.get("content-length", "0"))
        payload = await self.reader.readexactly(length) if length else b""
        if answer_headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, payload, answer_headers

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def closed_loop(
    host: str,
    port: int,
    *,
    path: str,
    make_body: Callable[[int], bytes],
    headers: dict[str, str],
    concurrency: int,
    duration: float,
    warmup: float = 1.0,
) -> Results:
    """``concurrency`` clients each send a request as soon as the previous one answered."""
    results = Results()
    counter = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def client() -> None:
        nonlocal counter
        conn = Connection(host, port)
        try:
            while (now := time.perf_counter()) < stop_at:
                counter += 1
                status, _, _ = await conn.request("POST", path, make_body(counter), headers)
                done = time.perf_counter()
                if now >= measure_from:
                    results.latencies.append(done - now)
                    results.statuses[status] = results.statuses.get(status, 0) + 1
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    results.elapsed = time.perf_counter() - measure_from
    return results


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def open_loop(
    rate: float, duration: float, warmup: float, send: Callable[[int, bool], Awaitable[None]]
) -> None:
    """Start one request every 1/rate seconds, whatever the previous ones are doing."""
    start = time.perf_counter()
    total = int(rate * (duration + warmup))
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i, i >= rate * warmup)))
    await asyncio.gather(*tasks)


class ConnectionPool:
    """Kept-alive connections, opened on demand (open-loop load needs as many as are in flight)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Connection] = []

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more, fresh
            conn = (
                self.idle.pop() if self.idle and attempt == 1 else Connection(self.host, self.port)
            )
            try:
                answer = await conn.request(method, path, body, headers)
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                conn.close()
                if attempt == 2:
                    raise
                continue
            self.idle.append(conn)
            return answer
        raise ConnectionError("unreachable")

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
