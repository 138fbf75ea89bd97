"""HL7 v2 over MLLP against the real PostgreSQL: the listener in-process, the client
python-hl7's asyncio MLLP client (an independent implementation of framing and parsing)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import hl7
import msgspec
import pytest
from hl7.mllp import open_hl7_connection

from contracts.identity import INS_TEST_OID, synthetic_ins
from parcours.settings import Settings
from pathways.interop.hl7.pam import SenderProfile
from pathways.interop.mllp import MllpServer
from pathways.interop.serve import build_intake
from pathways.interop.settings import MllpSettings
from tests.hl7_messages import INS, adt, exchange, msa, pid
from tests.integration.clock import on_virtual_clock

NOW = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def virtual(settings: Settings) -> Settings:
    return on_virtual_clock(settings, NOW)


@contextlib.asynccontextmanager
async def listening(settings: Settings, **options: Any) -> AsyncIterator[Any]:
    mllp = MllpSettings(port=0, **options)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=8)
    intake = await build_intake(settings, mllp, pool)
    server = MllpServer(mllp, intake.handle)
    await server.start()
    server.intake, server.pool = intake, pool  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        await server.stop()
        await pool.close()


async def rows(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database.url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def stream_types(settings: Settings, ins: str = INS) -> list[str]:
    found = await rows(
        settings,
        """SELECT e.type FROM events e JOIN patient_identities i
           ON e.stream = 'patient-' || i.patient_id::text WHERE i.ins = $1 ORDER BY e.position""",
        ins,
    )
    return [r["type"] for r in found]


async def test_a_heart_failure_discharge_is_acknowledged_once_enrolled_and_a_resend_writes_nothing(
    virtual: Settings,
) -> None:
    async with listening(virtual) as server:
        [ack] = await exchange(server.port, adt("A03", control="HF-1"))
        assert msa(ack) == ("AA", "HF-1")
        types = await stream_types(virtual)
        assert types[:2] == ["DischargeReported", "PatientEnrolled"]
        assert "TaskScheduled" in types
        [again] = await exchange(server.port, adt("A03", control="HF-1"))
        assert str(again) == str(ack)  # the stored ACK, byte for byte
        assert await stream_types(virtual) == types  # nothing written
        logged = await rows(
            virtual, "SELECT outcome, facts FROM hl7_messages WHERE control_id = 'HF-1'"
        )
        assert [(r["outcome"], r["facts"]) for r in logged] == [("accepted", 1)]


async def test_many_messages_on_one_connection_are_answered_in_order(virtual: Settings) -> None:
    ins = "253072B07300470"
    texts = [
        adt("A01", control=f"SEQ-{i}", pid_segment=pid(ins=ins, ipp=f"IPP-S{i}"), diagnoses=())
        for i in range(12)
    ]
    async with listening(virtual) as server:
        acks = await exchange(server.port, *texts)
    assert [msa(a) for a in acks] == [("AA", f"SEQ-{i}") for i in range(12)]
    assert (await stream_types(virtual, ins)).count("AdmissionReported") == 12


async def test_unsupported_and_malformed_messages_are_refused_with_a_reason(
    virtual: Settings,
) -> None:
    async with listening(virtual) as server:
        oru, version, garbage = await exchange(
            server.port,
            adt(kind="ORU", trigger="R01", control="BAD-1"),
            adt(version="2.3", control="BAD-2"),
            "this is not HL7",
        )
    assert msa(oru) == ("AR", "BAD-1")
    assert str(oru.segment("ERR")[3][0][0]) == "200"
    assert msa(version)[0] == "AR" and str(version.segment("ERR")[3][0][0]) == "203"
    assert msa(garbage)[0] == "AR"
    stored = await rows(virtual, "SELECT outcome FROM hl7_messages WHERE outcome = 'rejected'")
    assert len(stored) >= 3  # every message kept with its outcome


async def test_an_unmappable_message_is_quarantined_then_replayed_once_its_cause_is_fixed(
    virtual: Settings,
) -> None:
    ins = "253072A07300443"
    text = adt(
        "A03",
        control="Q-1",
        sender=("GAM", "CLINIQUE-X"),
        pid_segment=pid(ins=ins, ipp="IPP-Q"),
        pv1_segment="PV1|1|I||||||||||||||||||||||||||||||||||||||||||20261102090000|20261109140000",
    )
    async with listening(virtual) as server:
        [ack] = await exchange(server.port, text)
        assert msa(ack)[0] == "AE"
        err = ack.segment("ERR")
        assert str(err[2]) == "MSH^1^4^^2" and "FINESS" in str(err[8])
        assert ins not in str(ack) and "IPP-Q" not in str(ack)
        [row] = await rows(
            virtual,
            "SELECT id FROM hl7_messages WHERE outcome = 'quarantined' AND control_id = 'Q-1'",
        )
        assert await stream_types(virtual, ins) == []
    fixed = {"GAM|CLINIQUE-X": SenderProfile(finess="750712184")}
    async with listening(virtual, senders=fixed) as server:
        replayed = hl7.parse((await server.intake.replay(row["id"])).decode())
    assert msa(replayed)[0] == "AA"
    assert (await stream_types(virtual, ins))[0] == "DischargeReported"


async def test_a_patient_known_by_ipp_only_is_held_then_recorded_once_qualified(
    virtual: Settings,
) -> None:
    ins = "295109912611193"
    provisional = adt("A03", control="P-1", pid_segment=pid(ins=ins, ipp="IPP-P", status="PROV"))
    qualified = adt("A31", control="P-2", pid_segment=pid(ins=ins, ipp="IPP-P", status="QUAL"))
    async with listening(virtual) as server:
        [held] = await exchange(server.port, provisional)
        assert msa(held)[0] == "AA"
        before = await stream_types(virtual, ins)
        [linked] = await exchange(server.port, qualified)
        assert msa(linked)[0] == "AA"
        after = await stream_types(virtual, ins)
        assert after.count("DischargeReported") == before.count("DischargeReported") + 1
        outcome = await rows(virtual, "SELECT outcome FROM hl7_messages WHERE control_id = 'P-1'")
        assert outcome[0]["outcome"] == "accepted"
        # later messages without a qualified INS find the patient through the IPP link
        readmitted = adt("A01", control="P-3", pid_segment=pid(ins=None, ipp="IPP-P", status=""))
        [ack] = await exchange(server.port, readmitted)
        assert msa(ack)[0] == "AA"
    assert (await stream_types(virtual, ins)).count("AdmissionReported") == 1


async def test_shutdown_answers_every_message_it_has_read(virtual: Settings) -> None:
    texts = [
        adt("A01", control=f"STOP-{i}", pid_segment=pid(ipp=f"IPP-T{i}"), diagnoses=())
        for i in range(40)
    ]
    async with listening(virtual, read_ahead=4, grace_seconds=0.2) as server:
        reader, writer = await open_hl7_connection("127.0.0.1", server.port)
        for text in texts:
            writer.writeblock(text.encode())
        await writer.drain()
        first = await reader.readmessage()
        await server.stop()
        answered = [msa(first)]
        with contextlib.suppress(Exception):
            while True:
                answered.append(msa(await asyncio.wait_for(reader.readmessage(), 10)))
        writer.close()
    ids = {control for _code, control in answered}
    stored = await rows(
        virtual, "SELECT control_id FROM hl7_messages WHERE control_id LIKE 'STOP-%'"
    )
    assert {r["control_id"] for r in stored} <= ids  # nothing read was left unanswered
    assert len(answered) < len(texts)  # it stopped reading
    assert all(code in ("AA", "AR") for code, _ in answered)


def test_sender_settings_read_from_the_environment() -> None:
    env = {"PARCOURS_MLLP_SENDERS": '{"GAM|CHU-974": {"zone": "Indian/Reunion"}}'}
    settings = MllpSettings.from_env(env)
    assert settings.profile("GAM", "CHU-974").zone == "Indian/Reunion"
    assert settings.profile("X", "Y") == SenderProfile()
    assert msgspec.json.encode(settings.profile("GAM", "CHU-974"))


async def test_a_message_committed_but_not_acknowledged_stores_its_facts_once_when_sent_again(
    virtual: Settings,
) -> None:
    ins = "253072B07300470"
    text = adt(
        "A03", control="CRASH-1", pid_segment=pid(ins=ins, ipp="IPP-C"), diagnoses=("I50.9",)
    )
    async with listening(virtual) as server:
        [ack] = await exchange(server.port, text)
        assert msa(ack)[0] == "AA"
        before = await stream_types(virtual, ins)
        # as if the process died after the facts' commit and before the outcome and the ACK
        await rows(
            virtual,
            "UPDATE hl7_messages SET ack = NULL, outcome = 'received' WHERE control_id = 'CRASH-1'",
        )
        [again] = await exchange(server.port, text)
        assert msa(again)[0] == "AA"
    assert await stream_types(virtual, ins) == before


async def test_erasing_an_identity_clears_the_content_of_its_messages(
    virtual: Settings, token
) -> None:
    from pathways.app import create_app
    from tests.integration.conftest import bearer, serving

    ins = synthetic_ins(900)
    async with listening(virtual) as server:
        [ack] = await exchange(
            server.port, adt("A03", control="ERASE-1", pid_segment=pid(ins=ins, ipp="IPP-E"))
        )
        assert msa(ack)[0] == "AA"
    async with serving(create_app(virtual, with_scheduler=False)) as client:
        erased = await client.request(
            "DELETE",
            "/v1/patients/identity",
            json={"ins": ins, "oid": INS_TEST_OID},
            headers=bearer(token("admin", sub="ADMIN-1")),
        )
        assert erased.status_code == 200, erased.text
    [row] = await rows(
        virtual, "SELECT content, ipp FROM hl7_messages WHERE control_id = 'ERASE-1'"
    )
    assert (row["content"], row["ipp"]) == (None, None)
    assert await rows(virtual, "SELECT 1 FROM hl7_patient_links WHERE ins = $1", ins) == []


async def test_an_identifier_change_a47_moves_held_messages_to_the_new_ipp(
    virtual: Settings,
) -> None:
    ins = synthetic_ins(901)
    held = adt("A03", control="A47-1", pid_segment=pid(ins=ins, ipp="IPP-OLD", status="PROV"))
    qualified = adt("A31", control="A47-2", pid_segment=pid(ins=ins, ipp="IPP-NEW", status="QUAL"))
    change = adt(
        "A47",
        control="A47-3",
        pid_segment=pid(ins=ins, ipp="IPP-NEW", status="PROV"),
        extra=("MRG|IPP-OLD^^^CHU-TEST&750712184&M^PI",),
    )
    async with listening(virtual) as server:
        acks = await exchange(server.port, held, qualified)
        assert [msa(a)[0] for a in acks] == ["AA", "AA"]
        assert await stream_types(virtual, ins) == []  # held under the old IPP, not linked
        [ack] = await exchange(server.port, change)
        assert msa(ack)[0] == "AA"
    assert (await stream_types(virtual, ins))[:1] == ["DischargeReported"]


async def test_postgresql_down_answers_ar_send_again_and_the_resend_is_recorded_once(
    pg_factory,
) -> None:
    from parcours.devstack import create_database
    from parcours.migrations import apply
    from tests.conftest import settings_for

    server = pg_factory(fast=True)
    url = await create_database(server.url, "hl7down")
    await apply(url)
    settings = on_virtual_clock(settings_for(url, "nats://unused:4222", "tdown"), NOW)
    ins = synthetic_ins(902)
    text = adt("A03", control="DOWN-1", pid_segment=pid(ins=ins, ipp="IPP-D"))
    async with listening(settings) as mllp:
        server.stop()
        [refused] = await exchange(mllp.port, text)
        assert msa(refused)[0] == "AR"
        err = refused.segment("ERR")
        assert str(err[3][0][0]) == "207" and "send it again" in str(err[8])
        server.start()
        [ack] = await exchange(mllp.port, text)  # the sender sends it again
        assert msa(ack) == ("AA", "DOWN-1")
    assert (await stream_types(settings, ins)).count("DischargeReported") == 1


def _self_signed(folder) -> tuple[str, str]:
    """A throw-away certificate for 127.0.0.1 (PEM files), made with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parcours-mllp-test")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


async def test_mllp_over_tls(virtual: Settings, tmp_path) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    client_tls = ssl.create_default_context(cafile=cert)
    text = adt("A01", control="TLS-1", pid_segment=pid(ipp="IPP-TLS"), diagnoses=())
    async with listening(virtual, tls_cert=cert, tls_key=key) as server:
        reader, writer = await open_hl7_connection("127.0.0.1", server.port, ssl=client_tls)
        writer.writeblock(text.encode())
        await writer.drain()
        ack = await asyncio.wait_for(reader.readmessage(), 30)
        writer.close()
        assert msa(ack) == ("AA", "TLS-1")
        # a client speaking plain MLLP to the TLS port gets no answer
        plain_reader, plain_writer = await asyncio.open_connection("127.0.0.1", server.port)
        plain_writer.write(b"\x0b" + text.encode() + b"\x1c\r")
        await plain_writer.drain()
        assert await asyncio.wait_for(plain_reader.read(), 30) == b""
        plain_writer.close()


async def test_many_connections_at_once_each_answered_in_its_own_order(virtual: Settings) -> None:
    def stream(c: int) -> list[str]:
        return [
            adt("A01", control=f"C{c}-{i}", pid_segment=pid(ipp=f"IPP-C{c}-{i}"), diagnoses=())
            for i in range(5)
        ]

    async with listening(virtual) as server:
        answers = await asyncio.gather(*(exchange(server.port, *stream(c)) for c in range(8)))
    for c, acks in enumerate(answers):
        assert [msa(a) for a in acks] == [("AA", f"C{c}-{i}") for i in range(5)]


async def test_an_oversized_frame_is_refused_and_bytes_outside_frames_are_ignored(
    virtual: Settings,
) -> None:
    async with listening(virtual, max_message_bytes=4096) as server:
        [ack] = await exchange(server.port, adt("A01", control="SMALL-1", diagnoses=()))
        assert msa(ack)[0] == "AA"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"noise\r\n"
            + b"\x0b"
            + adt("A01", control="NOISE-1", diagnoses=()).encode()
            + b"\x1c\r"
        )
        writer.write(b"\x0b" + b"MSH|" + b"x" * 10_000 + b"\x1c\r")
        await writer.drain()
        first = hl7.parse((await reader.readuntil(b"\x1c\r"))[1:-2].decode())
        second = hl7.parse((await reader.readuntil(b"\x1c\r"))[1:-2].decode())
        assert msa(first) == ("AA", "NOISE-1")
        assert msa(second)[0] == "AR" and "larger than 4096" in str(second.segment("ERR")[8])
        assert await asyncio.wait_for(reader.read(), 10) == b""  # then the connection ends
        writer.close()


async def test_an_unqualified_identity_without_an_ipp_is_an_error_at_pid_3(
    virtual: Settings,
) -> None:
    text = adt(
        "A03", control="NOIPP-1", pid_segment=pid(ipp="", ins=synthetic_ins(903), status="PROV")
    )
    async with listening(virtual) as server:
        [ack] = await exchange(server.port, text)
    assert msa(ack)[0] == "AE" and str(ack.segment("ERR")[2]) == "PID^1^3^^"


async def stream_events(settings: Settings, ins: str) -> list[tuple[str, dict]]:
    found = await rows(
        settings,
        """SELECT e.type, e.data::text AS data FROM events e JOIN patient_identities i
           ON e.stream = 'patient-' || i.patient_id::text WHERE i.ins = $1 ORDER BY e.position""",
        ins,
    )
    return [(r["type"], msgspec.json.decode(r["data"])) for r in found]


async def test_a13_after_a03_cancels_the_enrolment_and_its_open_tasks_and_keeps_the_discharge(
    virtual: Settings,
) -> None:
    ins = synthetic_ins(1301)
    patient = pid(ins=ins, ipp="IPP-A13")
    cancel = adt("A13", control="A13-2", pid_segment=patient, zbe_segment="ZBE|MVT9||CANCEL|N")
    async with listening(virtual) as server:
        acks = await exchange(server.port, adt("A03", control="A13-1", pid_segment=patient), cancel)
    assert [msa(a) for a in acks] == [("AA", "A13-1"), ("AA", "A13-2")]
    events = await stream_events(virtual, ins)
    types = [t for t, _ in events]
    scheduled = {d["task_id"] for t, d in events if t == "TaskScheduled"}
    assert types.index("DischargeCancelled") > types.index("PatientEnrolled")
    after = events[types.index("DischargeCancelled") + 1 :]
    cancelled = [d for t, d in after if t == "TaskCancelled"]
    assert {d["task_id"] for d in cancelled} == scheduled  # nothing was done yet: all open
    assert {d["cause"] for d in cancelled} == {"discharge-cancelled"}
    assert [(t, d["reason"]) for t, d in after if t.startswith("Enrolment")] == [
        ("EnrolmentClosed", "cancelled")
    ]
    assert types.count("DischargeReported") == 1  # history keeps the discharge
    [logged] = await rows(
        virtual, "SELECT outcome, facts FROM hl7_messages WHERE control_id = 'A13-2'"
    )
    assert (logged["outcome"], logged["facts"]) == ("accepted", 1)


async def test_a40_moves_the_merged_records_open_tasks_to_the_surviving_record_once(
    virtual: Settings,
) -> None:
    merged_ins, surviving_ins = synthetic_ins(4001), synthetic_ins(4002)
    merged_pid = pid(ins=merged_ins, ipp="IPP-M40")
    surviving_pid = pid(ins=surviving_ins, ipp="IPP-S40")
    merge = adt(
        "A40",
        control="A40-3",
        pid_segment=surviving_pid,
        zbe_segment=None,
        zfm=None,
        diagnoses=(),
        extra=("MRG|IPP-M40^^^CHU-TEST&750712184&M^PI",),
    )
    async with listening(virtual) as server:
        acks = await exchange(
            server.port,
            adt("A03", control="A40-1", pid_segment=merged_pid, diagnoses=("I50.1",)),
            adt("A03", control="A40-2", pid_segment=surviving_pid, diagnoses=("J44.1",)),
        )
        before = await stream_events(virtual, merged_ins)
        acks += await exchange(server.port, merge)
        assert [msa(a)[0] for a in acks] == ["AA", "AA", "AA"]
        open_tasks = {d["task_id"]: d for t, d in before if t == "TaskScheduled"}
        for t, d in before:
            if t == "TaskCancelled":
                open_tasks.pop(d["task_id"], None)
        # the same A40 again (a new MSH-10, as a sender retrying would): nothing more moves
        [again] = await exchange(server.port, merge.replace("A40-3", "A40-4"))
        assert msa(again)[0] == "AA"
    [logged] = await rows(virtual, "SELECT reason FROM hl7_messages WHERE control_id = 'A40-3'")
    assert logged["reason"] == f"merge: {len(open_tasks)} open tasks moved, 0 duplicates cancelled"
    merged_after = await stream_events(virtual, merged_ins)
    surviving = await stream_events(virtual, surviving_ins)
    moved = [d for t, d in surviving if t == "TaskScheduled" and d.get("moved_from")]
    assert sorted(d["moved_from"] for d in moved) == sorted(open_tasks)
    assert all(
        (d["activity"], d["occurrence"], d["due"], d["protocol"])
        == (
            open_tasks[d["moved_from"]]["activity"],
            open_tasks[d["moved_from"]]["occurrence"],
            open_tasks[d["moved_from"]]["due"],
            "heart-failure-discharge",
        )
        for d in moved
    )
    enrolled = [d for t, d in surviving if t == "PatientEnrolled"]
    assert sorted(d["protocol"] for d in enrolled) == [
        "copd-exacerbation",
        "heart-failure-discharge",
    ]
    cancelled = [d for t, d in merged_after[len(before) :] if t == "TaskCancelled"]
    assert sorted(d["task_id"] for d in cancelled) == sorted(open_tasks)
    assert {d["cause"] for d in cancelled} == {"merged"}
    assert [d["reason"] for t, d in merged_after[len(before) :] if t == "EnrolmentClosed"] == [
        "merged"
    ]
    # history is never rewritten: the merged record's events are all still there, in order
    assert merged_after[: len(before)] == before
