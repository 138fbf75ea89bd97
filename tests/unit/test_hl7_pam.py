"""IHE PAM France ADT to Parcours facts: the pure mapping, given/when/then."""

from __future__ import annotations

import datetime as dt

import pytest

from contracts.facts import AdmissionReported, DeathReported, DischargeCancelled, DischargeReported
from pathways.interop.hl7.ack import build_ack
from pathways.interop.hl7.message import Hl7ParseError, parse
from pathways.interop.hl7.pam import SenderProfile, map_message
from pathways.interop.hl7.problems import MessageInError, MessageRejected
from tests.hl7_messages import FINESS, INS, adt, dg1, pid, pv1, zbe

UTC = dt.UTC


def when_mapped(text: str, profile: SenderProfile = SenderProfile()):
    return map_message(parse(text), profile)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_given_a_heart_failure_discharge_home_when_mapped_then_a_discharge_fact_in_utc():
    mapped = when_mapped(adt("A03", diagnoses=("I501", "E11.9")))
    [fact] = mapped.facts
    assert isinstance(fact, DischargeReported)
    # 9 Nov 2026 14:00 Paris (winter time, +01:00) is 13:00 UTC
    assert fact.discharged_at == utc(2026, 11, 9, 13, 0)
    assert fact.admitted_at == utc(2026, 11, 2, 8, 0)
    assert fact.diagnoses == ["I50.1", "E11.9"]
    assert fact.destination == "home"
    assert fact.finess == FINESS
    assert mapped.patient.identity is not None and mapped.patient.identity.ins == INS
    assert mapped.patient.ipp == "IPP0001" and mapped.patient.ipp_authority == FINESS


def test_discharge_instant_is_pv1_45_else_zbe_2_else_evn_6():
    with_pv1 = when_mapped(adt(zbe_segment=zbe(at="20261109100000"), evn="20261109080000"))
    assert with_pv1.facts[0].discharged_at == utc(2026, 11, 9, 13, 0)
    no_pv1 = pv1(discharged="")
    with_zbe = when_mapped(
        adt(pv1_segment=no_pv1, zbe_segment=zbe(at="20261109100000"), evn="20261109080000")
    )
    assert with_zbe.facts[0].discharged_at == utc(2026, 11, 9, 9, 0)
    with_evn = when_mapped(adt(pv1_segment=no_pv1, zbe_segment=None, evn="20261109080000"))
    assert with_evn.facts[0].discharged_at == utc(2026, 11, 9, 7, 0)


def test_no_discharge_instant_anywhere_is_a_semantic_error_naming_pv1_45():
    with pytest.raises(MessageInError) as err:
        when_mapped(adt(pv1_segment=pv1(discharged=""), zbe_segment=None, evn=""))
    assert str(err.value.location) == "PV1-45"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("20260328120000", utc(2026, 3, 28, 11, 0)),  # Saturday before the change: +01:00
        ("20260329120000", utc(2026, 3, 29, 10, 0)),  # summer time from 29 March 02:00: +02:00
        ("20261025013000", utc(2026, 10, 24, 23, 30)),  # still summer time
        ("20261025023000", utc(2026, 10, 25, 0, 30)),  # the hour seen twice: the first one
        ("20261025120000", utc(2026, 10, 25, 11, 0)),  # winter time again
        ("202610251200+0400", utc(2026, 10, 25, 8, 0)),  # an explicit offset wins
    ],
)
def test_local_timestamps_are_europe_paris_across_daylight_saving_changes(local, expected):
    mapped = when_mapped(adt(pv1_segment=pv1(admitted="20260301080000", discharged=local)))
    assert mapped.facts[0].discharged_at == expected


def test_an_overseas_sender_reads_its_own_local_time():
    reunion = SenderProfile(zone="Indian/Reunion")  # +04:00 all year
    mapped = when_mapped(adt(), reunion)
    assert mapped.facts[0].discharged_at == utc(2026, 11, 9, 10, 0)


@pytest.mark.parametrize(
    ("zfm", "disposition", "destination"),
    [
        ("8", "", "home"),
        ("7", "", "transfer"),
        ("6", "", "mutation"),
        ("9", "", "death"),
        (None, "7", "transfer"),  # PV1-36 only as a fallback
        (None, "01", "home"),
        ("7", "01", "transfer"),  # ZFM wins over PV1-36
        (None, "", "unknown"),
    ],
)
def test_where_the_patient_went_comes_from_zfm_then_pv1_36(zfm, disposition, destination):
    segment = pv1(discharged="20261109140000", disposition=disposition)
    mapped = when_mapped(adt(zfm=zfm, pv1_segment=segment))
    assert mapped.facts[0].destination == destination


def test_a_discharge_to_another_hospital_is_recorded_but_not_as_home():
    [fact] = when_mapped(adt(zfm="7")).facts
    assert isinstance(fact, DischargeReported) and fact.destination == "transfer"


def test_a_discharge_by_death_reports_the_death_from_pid_29():
    mapped = when_mapped(adt(zfm="9", pid_segment=pid(died="20261109120000")))
    assert [type(f) for f in mapped.facts] == [DischargeReported, DeathReported]
    assert mapped.facts[1].died_at == utc(2026, 11, 9, 11, 0)


def test_death_without_pid_29_takes_the_discharge_instant():
    mapped = when_mapped(adt(zfm="9"))
    assert mapped.facts[1] == DeathReported(died_at=utc(2026, 11, 9, 13, 0))


@pytest.mark.parametrize(
    "status", ["PROV", "VALI", "RECUP", "VIDE", "", "QUAL~DOUTE", "QUAL~FICTI"]
)
def test_an_ins_without_a_qualified_identity_is_dropped_and_the_ipp_kept(status):
    mapped = when_mapped(adt(pid_segment=pid(status=status)))
    assert mapped.patient.identity is None
    assert mapped.patient.ipp == "IPP0001"
    assert mapped.patient.ins_dropped and INS not in mapped.patient.ins_dropped
    assert len(mapped.facts) == 1  # the message is still mapped


def test_a_sender_on_the_pre_2021_meaning_may_qualify_vali():
    legacy = SenderProfile(qualified_statuses=frozenset({"QUAL", "VALI"}))
    mapped = when_mapped(adt(pid_segment=pid(status="VALI")), legacy)
    assert mapped.patient.identity is not None


def test_a_qualified_identity_carries_its_traits():
    identity = when_mapped(adt()).patient.identity
    assert identity.oid == "1.2.250.1.213.1.4.10"
    assert (identity.birth_name, identity.first_names) == ("DUPONT", "MARIE CLAIRE")
    assert identity.birth_date == dt.date(1952, 3, 17) and identity.sex == "F"
    assert (identity.birthplace, identity.commune) == ("75114", "75114")


def test_a_qualified_status_with_a_wrong_ins_key_drops_the_ins():
    mapped = when_mapped(adt(pid_segment=pid(ins="295109912611194")))
    assert mapped.patient.identity is None and "key" in mapped.patient.ins_dropped


@pytest.mark.parametrize("shifted", [False, True])
def test_zbe_action_is_read_at_zbe_4_or_one_field_later(shifted):
    mapped = when_mapped(adt(zbe_segment=zbe(action="INSERT", shifted=shifted)))
    assert mapped.movement.action == "INSERT" and mapped.movement.id == "MVT1"
    assert len(mapped.facts) == 1


def test_a_movement_update_records_no_second_fact():
    mapped = when_mapped(adt(zbe_segment=zbe(action="UPDATE", shifted=True)))
    assert mapped.facts == [] and mapped.movement.action == "UPDATE"


def test_a_zbe_without_an_action_is_an_error_at_zbe_4():
    with pytest.raises(MessageInError) as err:
        when_mapped(adt(zbe_segment="ZBE|MVT1|20261109140000||NOPE"))
    assert str(err.value.location) == "ZBE-4"


def test_an_admission_is_reported_from_pv1_44():
    [fact] = when_mapped(adt("A01", diagnoses=())).facts
    assert fact == AdmissionReported(admitted_at=utc(2026, 11, 2, 8, 0), finess=FINESS)


def test_a_cancelled_admission_is_named_for_the_coordinator():
    mapped = when_mapped(adt("A11", zbe_segment=zbe(action="CANCEL")))
    assert mapped.cancels == "admission" and mapped.facts == []


def test_a_cancelled_discharge_is_a_fact_dated_by_evn_6_else_zbe_2():
    mapped = when_mapped(adt("A13", zbe_segment=zbe(action="CANCEL")))
    # EVN-6 20261109141500 Paris (winter time) is 13:15 UTC; nothing names the discharge:
    # the decider retracts the patient's latest one
    assert mapped.facts == [DischargeCancelled(cancelled_at=utc(2026, 11, 9, 13, 15))]
    assert mapped.cancels is None
    without_evn = when_mapped(adt("A13", evn="", zbe_segment=zbe(action="CANCEL")))
    assert without_evn.facts == [DischargeCancelled(cancelled_at=utc(2026, 11, 9, 13, 0))]


@pytest.mark.parametrize("trigger", ["A02", "A05", "A21", "A22", "A52", "A53"])
def test_movements_without_a_fact_are_mapped_to_nothing(trigger):
    mapped = when_mapped(adt(trigger))
    assert mapped.facts == [] and mapped.note


def test_a_merge_names_the_merged_ipp_and_needs_mrg_1():
    mapped = when_mapped(adt("A40", extra=("MRG|IPP0999^^^CHU-TEST&750712184&M^PI",)))
    assert mapped.prior_ipp == "IPP0999"
    with pytest.raises(MessageInError) as err:
        when_mapped(adt("A47"))
    assert str(err.value.location) == "MRG-1"


def test_identity_messages_report_no_fact_unless_the_patient_died():
    assert when_mapped(adt("A31")).facts == []
    assert isinstance(
        when_mapped(adt("A31", pid_segment=pid(died="20261101"))).facts[0], DeathReported
    )


def test_diagnoses_main_first_other_systems_left_out():
    text = adt(diagnoses=()).replace(
        "ZFM",
        "\r".join(
            [
                dg1("E11.9", 1),
                dg1("I50.9", 2, priority="1"),
                dg1("ZZ99", 3, system="CCAM"),
                "ZFM",
            ]
        ),
    )
    assert when_mapped(text).facts[0].diagnoses == ["I50.9", "E11.9"]


def test_an_unreadable_icd10_code_is_an_error_at_its_dg1():
    with pytest.raises(MessageInError) as err:
        when_mapped(adt(diagnoses=("I50.1", "150")))
    assert (err.value.location.segment, err.value.location.sequence) == ("DG1", 2)


def test_a_discharge_without_diagnosis_is_still_a_discharge():
    [fact] = when_mapped(adt(diagnoses=())).facts
    assert fact.diagnoses == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (adt(kind="ORU", trigger="R01"), "200"),
        (adt("A99"), "201"),
        (adt(version="2.3"), "203"),
    ],
)
def test_unsupported_type_trigger_or_version_is_rejected(text, code):
    with pytest.raises(MessageRejected) as err:
        when_mapped(text)
    assert err.value.code == code and err.value.acknowledgement == "AR"


@pytest.mark.parametrize("text", ["", "PID|1|", "MSH|", "MSH|^~\\&|A\rpid|x"])
def test_what_is_not_hl7_fails_to_parse(text):
    with pytest.raises(Hl7ParseError):
        parse(text)


def test_escaped_separators_are_read_back():
    text = adt(pid_segment=pid(name="D\\S\\UPONT\\T\\FILS^MARIE^^^^^L"))
    assert when_mapped(text).patient.identity.birth_name == "D^UPONT&FILS"


def test_segments_separated_by_newlines_are_tolerated():
    assert when_mapped(adt().replace("\r", "\n")).facts


def test_an_error_ack_says_where_and_why_but_never_the_value():
    died = "2026XX01"
    message = parse(adt(pid_segment=pid(died=died)))
    with pytest.raises(MessageInError) as err:
        map_message(message)
    ack = build_ack(
        "AE", answered=message, control_id="ACK1", now=utc(2026, 11, 9), problem=err.value
    )
    msh, msa, err_segment = ack.rstrip("\r").split("\r")
    assert msh.startswith("MSH|^~\\&|PARCOURS|CPTS|GAM|CHU-TEST|")
    assert msa == "MSA|AE|MSG0001|"
    assert err_segment.startswith("ERR||PID^1^29^^|102^^HL70357|E|")
    assert died not in ack and INS not in ack and "DUPONT" not in ack
