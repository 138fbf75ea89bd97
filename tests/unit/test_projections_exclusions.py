"""PROTOCOLS.md § 0 (b), for every indicator of every protocol: a patient who dies, or is
readmitted (any admission), before an indicator's window closes, without having met it,
leaves that indicator's denominator, and the case list says why. Played through the
pathways decider (``engine_cases``) with the shipped protocol files."""

from __future__ import annotations

import tomllib

import pytest
from given_when_then import NOW, day, death, discharge

from contracts.facts import AdmissionReported, ReadmissionReported
from contracts.indicators import default_protocols_dir
from tests.engine_story import Played

EXCLUDING = ("DeathReported", "ReadmissionReported", "AdmissionReported")
# the deviations the protocol files record in their choices (test_projections_domain checks
# that they do): these indicators keep a case after an AdmissionReported
DEVIATIONS = {
    ("HF-READMIT30", "AdmissionReported"),
    ("COPD-READMIT30", "AdmissionReported"),
    ("GD-EDU7", "AdmissionReported"),
    ("GD-REVIEWS", "AdmissionReported"),
    ("GD-POSTPARTUM", "AdmissionReported"),
}


def _anchored(protocol: str) -> Played:
    from given_when_then import ogtt

    played = Played(NOW)
    if protocol == "gestational-diabetes":
        played.record(ogtt(NOW, 0.95, expected_delivery=day(120).date()))
    else:
        played.record(discharge(NOW, "J44.1" if protocol == "copd-exacerbation" else "I50.1"))
    return played


def _fact(kind: str, at):  # type: ignore[no-untyped-def]
    if kind == "DeathReported":
        return death(at)
    cls = ReadmissionReported if kind == "ReadmissionReported" else AdmissionReported
    return cls(admitted_at=at, finess="750000001")


@pytest.mark.parametrize("kind", EXCLUDING)
@pytest.mark.parametrize(
    "protocol", ["heart-failure-discharge", "copd-exacerbation", "gestational-diabetes"]
)
def test_a_death_or_any_admission_before_any_window_closes_takes_the_case_out(protocol, kind):
    played = _anchored(protocol)
    # on D+1 at 10:00, nothing done yet: every window (the first closes on D+3 at the
    # earliest) is still open, so every indicator loses the case (§ 0), except: counts
    # (no denominator), the readmission indicators, met by the readmission itself, a
    # window relative to a delivery that never came (ineligible), and the deviations
    played.record(_fact(kind, day(1)))
    played.advance(day(400, 20))  # HF and COPD closed; GD still open (1250 days)
    seen = played.outcomes()
    assert seen, protocol
    for code, o in seen.items():
        got = (o.status, o.reason, o.num, o.den)
        if code.endswith("-INCLUDED"):
            assert got == ("counted", None, 1, 0), code
        elif code.endswith("READMIT30") and kind == "ReadmissionReported":
            assert got == ("met", "ReadmissionReported", 1, 1), code
        elif code == "GD-POSTPARTUM":
            assert got == ("ineligible", "no DeliveryReported", 0, 0), code
        elif (code, kind) in DEVIATIONS:
            assert o.den >= 1 and o.status != "excluded", (code, got)
        else:
            assert got == ("excluded", kind, 0, 0), code


def test_every_indicator_excludes_on_death_and_any_admission_or_records_the_deviation():
    """PROTOCOLS.md § 0: a death or any admission before a window closes takes the case out
    of every indicator of every protocol, or the protocol's ``choices`` record the
    deviation for that indicator and that fact, with its source."""
    folder = default_protocols_dir()
    assert folder is not None
    missing = []
    for path in sorted(folder.glob("*.toml")):
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        choices = document["metadata"]["choices"]
        sources = {s["id"] for s in document["metadata"].get("sources", [])}
        for table in document["indicators"]:
            if table["kind"] == "count_enrolled":
                continue
            for fact in ("DeathReported", "ReadmissionReported", "AdmissionReported"):
                if fact in table.get("exclude_on", []):
                    continue
                recorded = [
                    c
                    for c in choices
                    if c.startswith("Deviation from PROTOCOLS.md § 0")
                    and table["code"] in c
                    and fact in c
                    and "source" in c
                    and (any(s in c for s in sources) or "PROTOCOLS.md § 1" in c)
                ]
                if not recorded:
                    missing.append((path.name, table["code"], fact))
    assert missing == []


@pytest.mark.parametrize("protocol", ["heart-failure-discharge", "copd-exacerbation"])
def test_a_cancelled_discharge_takes_its_case_out_of_every_indicator_and_says_why(protocol):
    from contracts.facts import DischargeCancelled

    played = _anchored(protocol)
    played.record(DischargeCancelled(cancelled_at=day(1)))
    played.advance(day(400, 20))
    seen = played.outcomes()
    assert seen, protocol
    assert {code: (o.status, o.reason, o.num, o.den) for code, o in seen.items()} == {
        code: ("excluded", "DischargeCancelled", 0, 0) for code in seen
    }


def test_a_record_merged_into_another_leaves_every_indicator_as_patient_merged():
    import uuid

    from pathways.domain import HandOverTasks, PatientState
    from pathways.domain.merging import plan_merge

    played = _anchored("heart-failure-discharge")
    moved, duplicates, superseded = plan_merge(played.state, PatientState(), uuid.uuid4)
    played.run(
        HandOverTasks(
            surviving_stream="patient-x",
            moved=[m.task_id for m in moved],
            duplicates=duplicates,
            superseded=superseded,
            actor_id="hl7",
            actor_role="discharge-system",
        )  # fmt: skip
    )
    played.advance(day(400, 20))
    seen = played.outcomes()
    assert seen
    assert {(o.status, o.reason, o.den) for o in seen.values()} == {
        ("excluded", "PatientMerged", 0)
    }
