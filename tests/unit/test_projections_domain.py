"""The pure core of the projections: periods, pseudonyms, case outcomes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from contracts import facts as f
from contracts import pathway as ev
from contracts.events import Actor, Envelope, patient_stream
from contracts.indicators import (
    OccurrenceShare,
    Titles,
    load_protocol_indicators,
)
from projections.domain.cases import Catalog, PatientCases, evolve, outcomes
from projections.domain.periods import PeriodError, parse_period
from projections.domain.pseudonyms import pseudonym
from tests.engine_story import Played

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


# --- single windows and exclusions, on what the engine writes (heart failure v1) -------------


def hf_discharged() -> Played:
    """Discharged home at ANCHOR (00:30 in Paris on 1 April 2026: D0 is 1 April)."""
    played = Played(ANCHOR)
    played.record(
        f.DischargeReported(
            admitted_at=ANCHOR - dt.timedelta(days=6),
            discharged_at=ANCHOR,
            diagnoses=["I50.1"],
            finess="750712184",
        )
    )
    return played


def gp(played: Played, days: float) -> uuid.UUID:
    at = ANCHOR + dt.timedelta(days=days)
    return played.record(f.ConsultationReported(consulted_at=at, role="gp", rpps="10000000002"))


def test_days_count_in_paris_so_the_anchor_day_is_the_local_date():
    # D0 is 2026-04-01 (Paris); 2026-04-08 23:00 Paris is D+7 (UTC dates would say D+8)
    played = hf_discharged()
    gp(played, 7.9375)
    outcome = played.outcomes()["HF-GP7"]
    assert outcome.status == "met" and outcome.reason_day == 7


def test_a_consultation_after_the_window_is_late_and_not_in_the_numerator():
    played = hf_discharged()
    gp(played, 8.2)  # 2026-04-09 05:18 in Paris: D+8
    assert played.read("HF-GP7") == ("not_met", "late", 0, 1)


def test_a_death_before_the_window_closes_excludes_unless_already_met():
    died_at = ANCHOR + dt.timedelta(days=3)
    played = hf_discharged()
    death = played.record(f.DeathReported(died_at=died_at))
    excluded = played.outcomes()["HF-GP7"]
    assert (excluded.status, excluded.reason, excluded.reason_day) == (
        "excluded",
        "DeathReported",
        3,
    )
    assert death in excluded.evidence
    played = hf_discharged()
    gp(played, 2)
    played.record(f.DeathReported(died_at=died_at))
    assert played.read("HF-GP7") == ("met", "on time", 1, 1)


@pytest.mark.parametrize(
    ("reason", "by", "cause", "expected"),
    [
        # the engine's cause, as it writes it today
        ("enrolment closed: end of the pathway", None, "closed", ("counted", 0, 1)),
        ("x", None, "paused", ("counted", 0, 1)),
        ("protocol migrated to version 2", None, "migrated", ("ineligible", 0, 0)),
        ("stopped: DeliveryReported", None, "stopped", ("ineligible", 0, 0)),
        # events stored before TaskCancelled had a cause: told apart by their reason
        ("enrolment closed: end of the pathway", None, None, ("counted", 0, 1)),
        ("enrolment closed: DeathReported", None, None, ("counted", 0, 1)),
        ("paused", None, None, ("counted", 0, 1)),
        ("paused", "coord-1", None, ("counted", 0, 1)),  # a person wrote "paused"
        ("protocol migrated to version 2", None, None, ("ineligible", 0, 0)),
        ("stopped: DeliveryReported", None, None, ("ineligible", 0, 0)),
    ],
)
def test_an_occurrence_cancelled_stays_missed_unless_a_migration_or_its_stop_fact_cancelled_it(
    reason, by, cause, expected
):
    # events the engine no longer writes (no cause) are hand-built on purpose; the engine's
    # own cases are in test_projections_engine_cases. One occurrence due on D+7, cancelled
    # on D+9 after its window closed, never performed: missed (0/1), unless re-planned
    # away by a migration or ended by the fact that ends its recurrence (nothing planned).
    at = ANCHOR + dt.timedelta(days=9)
    extra = {"cause": cause} if cause else {}
    cancelled = envelope(ev.TaskCancelled(task_id=TASK, reason=reason, by=by, **extra), at)
    share = OccurrenceShare(code="S", title=T, activity="gp", exclude_on=["DeathReported"])
    outcome = judge(share, *enrolled(), cancelled)
    assert (outcome.status, outcome.num, outcome.den) == expected
    assert judge(share, *enrolled(), completed(3)).num == 1


@pytest.mark.parametrize(
    ("died_on", "expected"),
    [
        # nursing visit 1 (D+1..D+3) performed on D+2; visit 2 is D+4..D+7: a death on D+7
        # comes before its window closes (out), on D+8 after (missed); 3 (D+8..D+10) and the
        # rest are out either way
        (7, ("counted", "1/1; 15 out: DeathReported", 1, 1)),
        (8, ("counted", "1/2; 14 out: DeathReported", 1, 2)),
    ],
)
def test_a_death_takes_out_an_occurrence_only_before_its_window_closes(died_on, expected):
    played = hf_discharged()
    played.record(
        f.NursingVisitReported(visited_at=ANCHOR + dt.timedelta(days=2), rpps="10000000003")
    )
    played.record(f.DeathReported(died_at=ANCHOR + dt.timedelta(days=died_on, hours=10)))
    assert played.read("HF-NURSE") == expected


def test_a_fact_within_counts_the_fact_in_its_window():
    played = hf_discharged()
    at = ANCHOR + dt.timedelta(days=12)
    fact = played.record(f.ReadmissionReported(admitted_at=at, finess="750712184"))
    outcome = played.outcomes()["HF-READMIT30"]
    assert outcome.status == "met" and fact in outcome.evidence


def test_every_protocol_file_declares_indicators_the_projections_understand():
    protocols = load_protocol_indicators()
    assert {p.id for p in protocols} >= {
        "heart-failure-discharge",
        "gestational-diabetes",
        "copd-exacerbation",
    }
    assert all(not p.skipped for p in protocols)
    # every care pathway measures; a question to the coordinator (no pathway) does not
    assert {p.id for p in protocols if not p.indicators} == {"discharge-classification"}


def test_a_case_state_stored_before_tasks_had_a_cause_and_a_plan_still_decodes():
    """``Task`` is stored in ``proj_case_state`` as an array: fields are only appended."""
    from projections.views.cases import _decode, _encode

    enrolled_at = ANCHOR.isoformat()
    old_task = [str(TASK), str(ENROLMENT), "gp", 1, enrolled_at, "cancelled", None, None]
    old_task += [None, None, None]  # scheduled_event, last_event, by_fact: 11 fields then
    stored = {
        "cpts": "demo",
        "patient_id": str(PATIENT),
        "enrolments": [[str(ENROLMENT), "p", "1", enrolled_at, str(uuid.uuid4()), None]],
        "tasks": [old_task],
    }
    import msgspec

    state = _decode(msgspec.msgpack.encode(stored))
    [task] = state.tasks
    assert (task.status, task.cause, task.plan) == ("cancelled", None, None)
    assert _decode(_encode(state)) == state
