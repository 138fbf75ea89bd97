"""COPD after an exacerbation: anchor, windows, dispensing, rehabilitation, flu season."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from given_when_then import (
    GP,
    NOW,
    Story,
    consultation,
    day,
    discharge,
    end_of,
    joined,
    lab,
    start_of,
)

from contracts.facts import DispensingReported, RehabilitationStarted, VaccinationReported
from contracts.pathway import PatientEnrolled, TaskCompleted, TaskScheduled

COPD = "copd-exacerbation"
PARIS = ZoneInfo("Europe/Paris")


def enrolled(at=NOW) -> Story:
    story = Story()
    story.record(discharge(at, "J44.1"))
    return story


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, s, tzinfo=PARIS).astimezone(UTC)


@pytest.mark.parametrize(
    "code,enrols",
    [
        ("J44.0", True),
        ("J44.1", True),
        ("J441", True),
        ("J44.9", False),
        ("J45.0", False),
        ("I50.1", False),
    ],
)
def test_only_a_copd_exacerbation_discharge_enrols(code, enrols):
    events = Story().record(discharge(NOW, code))
    assert any(isinstance(e, PatientEnrolled) and e.protocol == COPD for e in events) is enrols


def test_the_plan_follows_has_and_prado_bpco():
    plan = {
        (e.activity, e.occurrence): (e.role, e.earliest, e.due)
        for e in enrolled().events(TaskScheduled)
    }
    assert plan[("gp-followup", 1)] == ("gp", start_of(1), end_of(7))
    assert plan[("pulmonology-consultation", 1)] == ("pulmonologist", start_of(1), end_of(60))
    assert plan[("long-acting-bronchodilator", 1)] == ("pharmacist", start_of(1), end_of(90))
    assert plan[("rehabilitation", 1)] == ("physiotherapist", start_of(1), end_of(90))
    assert plan[("gp-second", 1)] == ("gp", start_of(45), end_of(75))
    assert plan[("spirometry", 1)] == ("pulmonologist", start_of(1), end_of(365))
    education = [v for k, v in plan.items() if k[0] == "nurse-education"]
    assert len(education) == 8
    assert education[0][1:] == (start_of(1), end_of(7)) and education[-1][1:] == (
        start_of(50),
        end_of(56),
    )


def test_the_first_gp_visit_does_not_count_as_the_second():
    story = enrolled()
    done, gp_joins = story.record(consultation(day(5)))
    assert gp_joins == joined(GP, "gp")
    assert done.task_id == story.task("gp-followup").task_id
    [second] = story.record(consultation(day(58)))
    assert second.task_id == story.task("gp-second").task_id and second.on_time


@pytest.mark.parametrize(
    "atc,counts",
    [
        ("R03AC13", True),  # formoterol (LABA)
        ("R03BB04", True),  # tiotropium (LAMA)
        ("R03AL03", True),  # vilanterol + umeclidinium
        ("R03AK07", True),  # formoterol + budesonide
        ("R03AC02", False),  # salbutamol (short-acting)
        ("R03BB01", False),  # ipratropium (short-acting)
        ("R03AL02", False),  # salbutamol + ipratropium (short-acting)
    ],
)
def test_a_long_acting_bronchodilator_dispensing_completes_the_task(atc, counts):
    story = enrolled()
    events = story.record(DispensingReported(dispensed_at=day(20), atc=atc))
    assert bool(events) is counts


def test_rehabilitation_started_completes_the_task_and_late_is_marked():
    story = enrolled()
    [done] = story.record(RehabilitationStarted(started_at=day(95)))
    assert done.task_id == story.task("rehabilitation").task_id and done.on_time is False


def test_spirometry_within_the_year_completes_the_task():
    story = enrolled()
    [done] = story.record(lab(day(200), "20150-9", value=1.4, unit="L"))
    assert done.task_id == story.task("spirometry").task_id and done.on_time


def test_outside_the_season_the_flu_vaccination_is_planned_for_the_next_season():
    flu = enrolled().task("flu-vaccination")  # discharged 2 March 2026
    assert (flu.earliest, flu.due) == (local(2026, 10, 15), local(2027, 1, 31, 23, 59, 59))


def test_in_season_a_vaccination_earlier_in_the_same_season_counts():
    story = Story()
    story.record(VaccinationReported(vaccinated_at=local(2026, 11, 3, 10), vaccine="influenza"))
    events = story.record(discharge(local(2026, 12, 10, 15), "J44.1"))
    flu = story.task("flu-vaccination")
    assert (flu.earliest, flu.due) == (local(2026, 10, 15), local(2027, 1, 31, 23, 59, 59))
    [done] = [e for e in events if isinstance(e, TaskCompleted)]
    assert done.task_id == flu.task_id and done.on_time


def test_a_vaccination_of_the_previous_season_does_not_count():
    story = Story()
    story.record(VaccinationReported(vaccinated_at=local(2025, 11, 3, 10), vaccine="influenza"))
    events = story.record(discharge(NOW, "J44.1"))
    assert not [e for e in events if isinstance(e, TaskCompleted)]
    [done] = story.record(
        VaccinationReported(vaccinated_at=local(2026, 10, 20, 10), vaccine="influenza")
    )
    assert done.task_id == story.task("flu-vaccination").task_id and done.on_time
    assert date(2026, 10, 20) > NOW.date()
