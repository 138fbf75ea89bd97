"""MLLP listener (asyncio): frames ``0x0B message 0x1C 0x0D``, one ACK per message.

- Many messages on one persistent connection, many connections at once (up to
  ``max_connections``; one more is closed at once).
- Order: the messages of one connection are answered one after the other, in
  the order received (an A03 after its A01); connections run concurrently,
  and at most ``in_flight`` messages are being recorded at once in all.
- Back-pressure: a connection reads at most ``read_ahead`` frames ahead of
  its answers (plus a socket buffer of about twice ``max_message_bytes``);
  past that the listener stops reading from that socket and TCP flow control
  holds the sender.
- Shutdown (``stop`` set): no new connection; nothing more is read; every
  message already read is answered, recorded within ``grace_seconds`` or else
  refused with AR (error 207, "send it again") -- never left unanswered.
- A frame larger than ``max_message_bytes`` is refused with AR and the
  connection closed (its end cannot be found safely).
- TLS when ``tls_cert``/``tls_key`` are set (mutual with ``tls_client_ca``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import Awaitable, Callable

import structlog

from pathways.interop.hl7.ack import build_ack
from pathways.interop.hl7.problems import SEGMENT_SEQUENCE_ERROR, ErrorLocation, MessageRejected
from pathways.interop.hl7_intake import unavailable
from pathways.interop.settings import MllpSettings

log = structlog.get_logger("pathways.mllp")
START, END = b"\x0b", b"\x1c\x0d"

Handler = Callable[[bytes], Awaitable[bytes]]


def tls_context(settings: MllpSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca:
        ctx.load_verify_locations(settings.tls_client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def frame(payload: bytes) -> bytes:
    return START + payload + END


class MllpServer:
    def __init__(self, settings: MllpSettings, handle: Handler) -> None:
        self.settings, self.handle = settings, handle
        self._in_flight = asyncio.Semaphore(settings.in_flight)
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = settings.port
        self.answered = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve,
            self.settings.host,
            self.settings.port,
            ssl=tls_context(self.settings),
            limit=self.settings.max_message_bytes + 2,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mllp.listening", host=self.settings.host, port=self.port)

    async def stop(self) -> None:
        """Stop accepting, answer what was read, close every connection."""
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        if self._connections:
            await asyncio.wait(self._connections, timeout=self.settings.grace_seconds + 5)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._stopping.is_set() or len(self._connections) >= self.settings.max_connections:
            writer.close()
            return
        self._connections.add(task)  # type: ignore[arg-type]
        frames: asyncio.Queue[bytes | None] = asyncio.Queue(self.settings.read_ahead)
        reading = asyncio.create_task(self._read(reader, writer, frames))
        try:
            await self._answer_all(writer, frames)
        except (ConnectionError, OSError):
            pass  # the peer went away; what it sent and got no answer for, it sends again
        finally:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._connections.discard(task)  # type: ignore[arg-type]

    async def _read(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        frames: asyncio.Queue[bytes | None],
    ) -> None:
        stop = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                chunk = asyncio.create_task(reader.readuntil(END))
                done, _ = await asyncio.wait(
                    {chunk, stop},
                    timeout=self.settings.idle_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if chunk not in done:  # stopping or idle: read nothing more
                    chunk.cancel()
                    break
                try:
                    data = chunk.result()
                except asyncio.LimitOverrunError:
                    await frames.put(b"")  # too large: refused, then the connection ends
                    break
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    break
                start = data.find(START)
                if start < 0:
                    continue  # bytes outside a frame: not a message
                await frames.put(data[start + 1 : -len(END)])
        finally:
            stop.cancel()
            await frames.put(None)

    async def _answer_all(
        self, writer: asyncio.StreamWriter, frames: asyncio.Queue[bytes | None]
    ) -> None:
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            payload = await frames.get()
            if payload is None:
                return
            if self._stopping.is_set() and deadline is None:
                deadline = loop.time() + self.settings.grace_seconds
            if payload == b"":
                writer.write(frame(self._too_large()))
                await writer.drain()
                return
            if deadline is not None and loop.time() > deadline:
                ack = unavailable(payload, dt.datetime.now(dt.UTC))
            else:
                ack = await self._answer(payload)
            writer.write(frame(ack))
            await writer.drain()
            self.answered += 1

    async def _answer(self, payload: bytes) -> bytes:
        async with self._in_flight:
            try:
                return await self.handle(payload)
            except Exception as exc:  # PostgreSQL unreachable, a bug: refuse, never drop
                log.error("mllp.unavailable", error=type(exc).__name__)
                return unavailable(payload, dt.datetime.now(dt.UTC))

    def _too_large(self) -> bytes:
        problem = MessageRejected(
            SEGMENT_SEQUENCE_ERROR,
            f"the message is larger than {self.settings.max_message_bytes} bytes",
            ErrorLocation(),
        )
        now = dt.datetime.now(dt.UTC)
        return build_ack("AR", answered=None, control_id="ACK0", now=now, problem=problem).encode()
