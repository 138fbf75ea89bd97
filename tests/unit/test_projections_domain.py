"""The pure core of the projections: periods, pseudonyms, case outcomes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from contracts import facts as f
from contracts import pathway as ev
from contracts.events import Actor, Envelope, patient_stream
from contracts.indicators import (
    ActivityWithin,
    FactWithin,
    OccurrenceShare,
    Titles,
    load_protocol_indicators,
)
from projections.domain.cases import Catalog, PatientCases, evolve, outcomes
from projections.domain.periods import PeriodError, parse_period
from projections.domain.pseudonyms import pseudonym

UTC = dt.UTC
ANCHOR = dt.datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 2026-04-01 00:30 in Paris
PATIENT = uuid.uuid4()
T = Titles(fr="t", en="t")


def envelope(data, at: dt.datetime) -> Envelope:  # type: ignore[no-untyped-def]
    return Envelope(
        event_id=uuid.uuid4(),
        stream=patient_stream(PATIENT),
        version=1,
        type=data.__struct_config__.tag,
        occurred_at=at,
        recorded_at=at,
        cpts="demo",
        correlation_id="c",
        actor=Actor(id="x", role="service"),
        data=data,
    )


def given(*events: Envelope) -> PatientCases:
    state = PatientCases(cpts="demo", patient_id=PATIENT)
    for e in events:
        state = evolve(state, e)
    return state


def catalog(*indicators) -> Catalog:  # type: ignore[no-untyped-def]
    return Catalog([_protocol(indicators)])


def _protocol(indicators):  # type: ignore[no-untyped-def]
    from contracts.indicators import ProtocolIndicators

    return ProtocolIndicators(id="p", version="1", title=T, indicators=list(indicators))


ENROLMENT = uuid.uuid4()
TASK = uuid.uuid4()


def enrolled() -> list[Envelope]:
    return [
        envelope(
            ev.PatientEnrolled(
                enrolment_id=ENROLMENT,
                protocol="p",
                protocol_version="1",
                anchor_type="DischargeReported",
                anchor_at=ANCHOR,
            ),
            ANCHOR,
        ),
        envelope(
            ev.TaskScheduled(
                task_id=TASK,
                enrolment_id=ENROLMENT,
                protocol="p",
                activity="gp",
                occurrence=1,
                role="gp",
                earliest=ANCHOR,
                due=ANCHOR + dt.timedelta(days=7),
            ),
            ANCHOR,
        ),
    ]


def completed(days: float) -> Envelope:
    at = ANCHOR + dt.timedelta(days=days)
    return envelope(ev.TaskCompleted(task_id=TASK, completed_at=at, on_time=days <= 7), at)


GP7 = ActivityWithin(code="GP7", title=T, activity="gp", to_days=7, exclude_on=["DeathReported"])


def judge(indicator, *events):  # type: ignore[no-untyped-def]
    ((_, _, outcome),) = outcomes(given(*events), catalog(indicator)).values()
    return outcome


def test_periods_parse_and_step():
    q = parse_period("2026-Q1")
    assert (q.start, q.end) == (dt.date(2026, 1, 1), dt.date(2026, 4, 1))
    assert [p.label for p in parse_period("2026-02").previous(3)] == [
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert parse_period("2026").end == dt.date(2027, 1, 1)
    with pytest.raises(PeriodError):
        parse_period("2026-13")


@pytest.mark.parametrize("text", ["0000", "0000-01", "0000-Q1", "1899-12", "2200", "9999-Q4"])
def test_a_period_without_dates_or_a_trend_is_refused(text):
    with pytest.raises(PeriodError):
        parse_period(text)


def test_pseudonyms_are_stable_per_cpts_and_differ_across_cpts():
    a = pseudonym("secret", "demo", PATIENT)
    assert a == pseudonym("secret", "demo", PATIENT) and len(a) == 20
    assert a != pseudonym("secret", "other", PATIENT)
    assert a != pseudonym("other-secret", "demo", PATIENT)


def test_days_count_in_paris_so_the_anchor_day_is_the_local_date():
    # D0 is 2026-04-01 (Paris); 2026-04-08 23:00 Paris is D+7 (UTC dates would say D+8)
    outcome = judge(GP7, *enrolled(), completed(7.9375))
    assert outcome.status == "met" and outcome.reason_day == 7


def test_a_consultation_after_the_window_is_late_and_not_in_the_numerator():
    outcome = judge(GP7, *enrolled(), completed(8.2))
    assert (outcome.status, outcome.reason, outcome.num, outcome.den) == ("not_met", "late", 0, 1)


def test_a_death_before_the_window_closes_excludes_unless_already_met():
    death = envelope(
        f.DeathReported(died_at=ANCHOR + dt.timedelta(days=3)), ANCHOR + dt.timedelta(days=3)
    )
    excluded = judge(GP7, *enrolled(), death)
    assert (excluded.status, excluded.reason, excluded.reason_day) == (
        "excluded",
        "DeathReported",
        3,
    )
    assert death.event_id in excluded.evidence
    kept = judge(GP7, *enrolled(), completed(2), death)
    assert kept.status == "met"


def test_an_occurrence_share_counts_planned_occurrences_not_cancelled():
    share = OccurrenceShare(code="S", title=T, activity="gp")
    cancelled = envelope(ev.TaskCancelled(task_id=TASK, reason="paused"), ANCHOR)
    outcome = judge(share, *enrolled(), cancelled)
    assert outcome.status == "ineligible"
    assert judge(share, *enrolled(), completed(3)).num == 1


def test_a_fact_within_counts_the_fact_in_its_window():
    readmit = FactWithin(code="R30", title=T, fact="ReadmissionReported", to_days=30)
    at = ANCHOR + dt.timedelta(days=12)
    fact = envelope(f.ReadmissionReported(admitted_at=at, finess="750712184"), at)
    outcome = judge(readmit, *enrolled(), fact)
    assert outcome.status == "met" and fact.event_id in outcome.evidence


def test_every_protocol_file_declares_indicators_the_projections_understand():
    protocols = load_protocol_indicators()
    assert {p.id for p in protocols} >= {
        "heart-failure-discharge",
        "gestational-diabetes",
        "copd-exacerbation",
    }
    assert all(p.indicators and not p.skipped for p in protocols)
