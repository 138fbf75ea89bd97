"""The protocol files load, say what PROTOCOLS.md says, and a bad file says where and why."""

from __future__ import annotations

import pytest
from given_when_then import CATALOG, PROTOCOLS

from contracts.facts import FACT_TYPES
from contracts.roles import Role
from pathways.domain import ProtocolCatalog, ProtocolError, UnknownProtocolError
from pathways.domain.catalog import parse_protocol
from pathways.domain.protocol import (
    ActivityWithin,
    CountEnrolled,
    FactWithin,
    LabPanel,
    OccurrenceShare,
    PatientsWithShare,
)

HF = (PROTOCOLS / "hf-discharge.v1.toml").read_text()


def test_the_catalog_holds_the_four_protocols_and_two_heart_failure_versions():
    assert CATALOG.ids() == [
        "copd-exacerbation",
        "discharge-classification",
        "gestational-diabetes",
        "heart-failure-discharge",
    ]
    assert CATALOG.latest("heart-failure-discharge").version == 1  # version 2 is a draft
    assert CATALOG.latest("heart-failure-discharge", include_drafts=True).version == 2
    assert CATALOG.get("heart-failure-discharge", "1").version == 1


def test_an_unknown_protocol_or_version_is_a_lookup_error():
    with pytest.raises(UnknownProtocolError):
        CATALOG.latest("asthma")
    with pytest.raises(UnknownProtocolError):
        CATALOG.get("heart-failure-discharge", 9)


@pytest.mark.parametrize("protocol", CATALOG.all(), ids=lambda p: p.key)
def test_every_protocol_cites_sources_and_uses_known_roles_and_facts(protocol):
    assert protocol.metadata.sources and protocol.metadata.choices
    assert protocol.title.fr and protocol.title.en
    # a question to the coordinator (classify a discharge) is answered by a person: no
    # completing fact, no indicator
    question = protocol.lifecycle.answered_by_enrolment
    for activity in protocol.activities:
        assert Role(activity.role)
        assert question or activity.completed_by, f"{activity.id} has no completing fact"
        for completion in activity.completed_by:
            assert completion.__struct_config__.tag in FACT_TYPES
    assert question != bool(protocol.indicators)


def test_heart_failure_declares_the_indicators_of_protocols_md():
    hf = CATALOG.get("heart-failure-discharge", 1)
    by_code = {i.code: i for i in hf.indicators}
    gp7 = by_code["HF-GP7"]
    assert isinstance(gp7, ActivityWithin)
    assert (gp7.activity, gp7.from_days, gp7.to_days) == ("gp-consultation", 0, 7)
    # PROTOCOLS.md § 0: death and any admission (a readmission)
    assert gp7.exclude_on == ["DeathReported", "ReadmissionReported", "AdmissionReported"]
    assert isinstance(by_code["HF-CARDIO30-60"], ActivityWithin)
    assert (by_code["HF-CARDIO30-60"].from_days, by_code["HF-CARDIO30-60"].to_days) == (29, 60)
    assert isinstance(by_code["HF-NURSE"], OccurrenceShare)
    assert (
        isinstance(by_code["HF-NURSE80"], PatientsWithShare)
        and by_code["HF-NURSE80"].min_share == 0.8
    )
    assert isinstance(by_code["HF-READMIT30"], FactWithin) and by_code["HF-READMIT30"].to_days == 30
    assert isinstance(by_code["HF-INCLUDED"], CountEnrolled)


def test_the_heart_failure_blood_panel_needs_creatinine_potassium_and_sodium():
    panel = CATALOG.get("heart-failure-discharge", 1).activity("blood-panel").completed_by[0]
    assert isinstance(panel, LabPanel)
    assert panel.all_of == ["2160-0", "2823-3", "2951-2"] and panel.any_of == []


def test_gestational_diabetes_and_copd_declare_their_indicators():
    gd = {i.code for i in CATALOG.latest("gestational-diabetes").indicators}
    assert {"GD-INCLUDED", "GD-EDU7", "GD-REVIEWS", "GD-POSTPARTUM"} <= gd
    copd = {i.code for i in CATALOG.latest("copd-exacerbation").indicators}
    assert {"COPD-GP7", "COPD-PULMO60", "COPD-BD90", "COPD-REHAB90", "COPD-FLU"} <= copd


def _error(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(text, "bad.toml")
    return caught.value


def test_a_wrong_type_names_the_path_inside_the_file():
    bad = HF.replace("earliest_days = 30, due_days = 60", 'earliest_days = 30, due_days = "sixty"')
    error = _error(bad)
    assert (error.file, error.path) == ("bad.toml", "activities[3].window.due_days")
    assert "Expected `int | null`, got `str`" in error.reason
    assert str(error).startswith("bad.toml: activities[3].window.due_days: ")


def test_an_unknown_field_is_an_error_not_a_silent_default():
    error = _error(HF.replace("gain_kg_above = 2.0", "gain_kg_above = 2.0\ngain_kilos = 2"))
    assert error.path == "rules[0]"
    assert "unknown field `gain_kilos`" in error.reason


def test_an_unknown_role_is_named():
    error = _error(HF.replace('role = "cardiologist"', 'role = "cardiology"'))
    assert error.path == "activities[3].role"
    assert "unknown role 'cardiology'" in error.reason


def test_an_indicator_naming_an_unknown_activity_is_named():
    error = _error(
        HF.replace('activity = "blood-panel"\nfrom_days', 'activity = "blood-tests"\nfrom_days')
    )
    assert error.path == "indicators[2].activity"
    assert "unknown activity 'blood-tests'" in error.reason


def test_an_unknown_fact_type_in_a_completion_is_named():
    error = _error(HF.replace('fact = "NursingVisitReported"', 'fact = "HomeVisitReported"'))
    assert error.path == "activities[2].completed_by[0].fact"
    assert "HomeVisitReported" in error.reason


def test_a_window_with_two_due_dates_or_a_due_before_earliest_is_refused():
    error = _error(
        HF.replace(
            "window = { earliest_days = 30, due_days = 60 }",
            "window = { earliest_days = 30, due_days = 20 }",
        )
    )
    assert error.path == "activities[3].window.due_days"
    assert "before earliest_days" in error.reason
    error = _error(
        HF.replace(
            "window = { earliest_days = 30, due_days = 60 }",
            "window = { due_days = 60, due_hours = 2 }",
        )
    )
    assert "exactly one of" in error.reason


def test_a_recurrence_without_an_end_is_refused():
    error = _error(HF.replace("per_period = 2, count = 16", "per_period = 2"))
    assert error.path == "activities[2].recurrence"


def test_invalid_toml_names_the_file():
    error = _error("id = ")
    assert error.file == "bad.toml" and "not valid TOML" in error.reason


def test_a_version_defined_twice_in_a_directory_stops_loading(tmp_path):
    (tmp_path / "a.toml").write_text(HF)
    (tmp_path / "b.toml").write_text(HF)
    with pytest.raises(ProtocolError, match="defined twice"):
        ProtocolCatalog.load_dir(tmp_path)
