"""Two MLLP listeners on one database (``parcours dev --replicas 2``, or two machines behind
a TCP load balancer): the same message sent to both at once is recorded once and both
answer AA with the same ACK; a listener stopped mid-stream loses nothing the client
re-sends to the other. The client is python-hl7's asyncio MLLP client."""

from __future__ import annotations

import asyncio

from contracts.identity import synthetic_ins
from parcours.settings import Settings
from tests.hl7_messages import adt, exchange, msa, pid
from tests.integration.test_hl7_mllp import listening, rows, virtual  # noqa: F401


async def event_counts(settings: Settings, ins: str) -> dict[str, int]:
    found = await rows(
        settings,
        """SELECT e.type, count(*) AS n FROM events e JOIN patient_identities i
           ON e.stream = 'patient-' || i.patient_id::text WHERE i.ins = $1 GROUP BY e.type""",
        ins,
    )
    return {r["type"]: r["n"] for r in found}


async def test_the_same_message_sent_to_two_listeners_at_once_is_recorded_once(
    virtual: Settings,  # noqa: F811
) -> None:
    async with listening(virtual) as first, listening(virtual) as second:
        for n in range(3):  # a few rounds: the race is between two connections
            ins = synthetic_ins(9100 + n)
            text = adt("A03", control=f"TWIN-{n}", pid_segment=pid(ins=ins, ipp=f"IPP-T{n}"))
            [a], [b] = await asyncio.gather(exchange(first.port, text), exchange(second.port, text))
            assert msa(a) == ("AA", f"TWIN-{n}") and msa(b) == ("AA", f"TWIN-{n}")
            assert str(a) == str(b)  # one answer: the stored ACK
            counts = await event_counts(virtual, ins)
            assert counts["DischargeReported"] == 1 and counts["PatientEnrolled"] == 1
            logged = await rows(
                virtual,
                "SELECT outcome, facts FROM hl7_messages WHERE control_id = $1",
                f"TWIN-{n}",
            )
            assert [(r["outcome"], r["facts"]) for r in logged] == [("accepted", 1)]


def abort(server) -> None:  # type: ignore[no-untyped-def]
    """Stop a listener abruptly: no more connections, the ones open cut mid-message."""
    server._server.close()
    for task in list(server._connections):
        task.cancel()


async def send(port: int, text: str) -> str | None:
    """The ACK code, or None when the listener answered nothing (cut, refused)."""
    try:
        [ack] = await asyncio.wait_for(exchange(port, text), 20)
        return msa(ack)[0]
    except (TimeoutError, OSError, asyncio.IncompleteReadError, EOFError):
        return None


async def test_a_listener_stopped_mid_stream_loses_nothing_the_client_sends_again(
    virtual: Settings,  # noqa: F811
) -> None:
    texts = {
        synthetic_ins(9300 + i): adt(
            "A03", control=f"FLOW-{i}", pid_segment=pid(ins=synthetic_ins(9300 + i), ipp=f"F{i}")
        )
        for i in range(24)
    }
    async with listening(virtual) as first, listening(virtual) as second:
        ports, codes = (first.port, second.port), {}
        items = list(texts.items())

        async def one(i: int, ins: str, text: str) -> None:
            if i == 12:
                abort(first)  # mid-stream: messages in flight to it are cut
            codes[ins] = await send(ports[i % 2], text)

        await asyncio.gather(*(one(i, ins, text) for i, (ins, text) in enumerate(items)))
        unanswered = [ins for ins, code in codes.items() if code != "AA"]
        assert unanswered, "the abort cut nothing: the test proves nothing"
        for ins in unanswered:  # the client re-sends to the surviving listener
            assert await send(second.port, texts[ins]) == "AA"
    for ins in texts:
        counts = await event_counts(virtual, ins)
        assert counts["DischargeReported"] == 1 and counts["PatientEnrolled"] == 1, ins
    logged = await rows(
        virtual, "SELECT outcome, facts FROM hl7_messages WHERE control_id LIKE 'FLOW-%'"
    )
    assert sorted((r["outcome"], r["facts"]) for r in logged) == [("accepted", 1)] * 24
