"""Indicator cases judged on what the engine wrote (PROTOCOLS.md § 0), read after closure.

Every story is played through the pathways decider on a virtual clock (timers fire as
the scheduler fires them: overdue checks, the end of the pathway) and its events are
folded by the projections. Expected values are worked out by hand from PROTOCOLS.md and
the protocol files, in the comments.

Heart failure v1 (given_when_then: D0 = Monday 2 March 2026, discharge at 14:00 Paris):
nursing visits twice a week for 8 weeks, 16 occurrences; occurrence 2p+1 is
D+1+7p..D+3+7p and occurrence 2p+2 is D+4+7p..D+7+7p (p = 0..7), the last one ends on
D+56. The pathway closes at the end of D+90 and cancels what is still open.
"""

from __future__ import annotations

import pytest
from given_when_then import COORDINATOR, NOW, day, death, discharge, visit

from contracts import pathway as ev
from contracts.facts import AdmissionReported, ReadmissionReported
from pathways.domain import CancelTask, MigrateProtocol
from tests.engine_story import Played

HF_VISITS = [n + 7 * p for p in range(8) for n in (2, 5)]  # one in each window


def hf(*visit_days: int) -> Played:
    played = Played(NOW)
    played.record(discharge(NOW, "I50.1"))
    for n in visit_days:
        played.record(visit(day(n, 9)))
    return played


def nursing(played: Played) -> tuple:
    return played.read("HF-NURSE"), played.read("HF-NURSE80")


def test_nursing_visits_never_performed_stay_missed_after_the_pathway_closes():
    played = hf(*HF_VISITS[:4])  # occurrences 1-4 performed, 5-16 never
    played.advance(day(60, 20))  # every window has closed (D+56), the pathway is open
    at_60 = {c: played.read(c) for c in played.outcomes()}
    # 16 planned, 4 performed: 4/16; 4/16 = 25 % < 80 %: not met
    assert nursing(played) == (
        ("counted", "4/16", 4, 16),
        ("not_met", "4/16", 0, 1),
    )
    played.advance(day(95, 20))  # the pathway closed at the end of D+90
    closure = [
        e
        for e in played.events(ev.TaskCancelled)
        if e.reason == "enrolment closed: end of the pathway"
    ]
    # the engine cancelled the 12 visits and the GP, blood panel and cardiology tasks
    assert len(closure) == 12 + 3
    assert nursing(played) == (
        ("counted", "4/16", 4, 16),
        ("not_met", "4/16", 0, 1),
    )
    # closing changes no indicator at all
    assert {c: played.read(c) for c in played.outcomes()} == at_60


def test_a_death_takes_out_only_the_occurrences_whose_window_was_still_open():
    played = hf(2)  # occurrence 1 performed on D+2
    played.record(death(day(9, 10)))
    played.advance(day(95, 20))
    # occurrence 2 (D+4..D+7) closed before the death on D+9: missed; occurrence 3
    # (D+8..D+10) and the 13 after it were still open: out. 1 performed / 2 planned.
    assert played.read("HF-NURSE") == ("counted", "1/2; 14 out: DeathReported", 1, 2)
    # the patient is the unit: the plan's last window (D+56) had not closed, 1/16 < 80 %
    assert played.read("HF-NURSE80") == ("excluded", "DeathReported", 0, 0)
    # the GP window (D+7) closed before the death: not done, stays in
    assert played.read("HF-GP7") == ("not_met", "not done", 0, 1)
    assert played.read("HF-CARDIO60") == ("excluded", "DeathReported", 0, 0)
    assert played.read("HF-READMIT30") == ("excluded", "DeathReported", 0, 0)


def test_a_readmission_takes_out_the_open_occurrences_and_the_resumed_plan_counts_what_is_done():
    played = hf(2, 5, 9)  # occurrences 1-3
    played.record(ReadmissionReported(admitted_at=day(12, 8), finess="750000001"))
    # back home on D+20 for another reason: the pathway resumes, 8 days later, and the
    # open occurrences 4-16 are planned again 8 days later: occurrence 4 is D+19..D+22
    played.record(discharge(day(20, 16), "J18.9"))
    played.record(visit(day(21, 9)))
    played.advance(day(120, 20))  # the end moved by 8 days too: D+98
    # performed: 1-4 (4 after the resumption); 5-16 never performed, and each window
    # closed after the readmission on D+12: out. 4/4
    assert played.read("HF-NURSE") == ("counted", "4/4; 12 out: ReadmissionReported", 4, 4)
    # readmitted on D+12 before the plan's end with 3/16 done: out
    assert played.read("HF-NURSE80") == ("excluded", "ReadmissionReported", 0, 0)
    assert played.read("HF-READMIT30") == ("met", "ReadmissionReported", 1, 1)
    assert played.read("HF-CARDIO60") == ("excluded", "ReadmissionReported", 0, 0)
    assert played.read("HF-GP7") == ("not_met", "not done", 0, 1)  # D+7 closed before


def test_any_admission_excludes_as_a_readmission_does():
    played = hf()
    played.record(AdmissionReported(admitted_at=day(5, 8), finess="750000001"))
    played.advance(day(95, 20))
    # occurrence 1 (D+1..D+3) closed before the admission on D+5: missed; 2-16 out
    assert played.read("HF-NURSE") == ("counted", "0/1; 15 out: AdmissionReported", 0, 1)
    for code in ("HF-GP7", "HF-BIO7", "HF-CARDIO60", "HF-NURSE80"):
        assert played.read(code) == ("excluded", "AdmissionReported", 0, 0), code


def test_a_migration_takes_out_what_it_re_plans_and_the_new_plan_counts():
    played = hf(2, 5, 9)  # version 1 occurrences 1-3
    enrolment = played.cases().enrolments[0].enrolment_id
    played.advance(day(10, 10))
    played.run(
        MigrateProtocol(
            enrolment_id=enrolment,
            to_version=2,
            actor_id=COORDINATOR[0],
            actor_role=COORDINATOR[1],
        )
    )
    played.advance(day(95, 20))
    # version 1 occurrences 4-16 start after D+10 10:00: cancelled by the migration, out.
    # Version 2 (weekly, occurrence k+1 is D+1+7k..D+7+7k) plans the occurrences starting
    # after the migration: 3-8 (D+15.. to D+50..D+56), none performed: missed.
    # 3 performed / (3 + 6) planned.
    assert played.read("HF-NURSE") == ("counted", "3/9; 13 out: migrated", 3, 9)
    assert played.read("HF-NURSE80") == ("not_met", "3/9", 0, 1)  # 33 % < 80 %


def test_a_task_a_coordinator_cancelled_stays_missed():
    played = hf(5)  # occurrence 2 performed
    first = next(
        t
        for t in played.state.tasks.values()
        if t.activity == "nursing-visit" and t.occurrence == 1
    )
    played.advance(day(1, 9))
    played.run(
        CancelTask(
            task_id=first.task_id,
            reason="patient away",
            actor_id=COORDINATOR[0],
            actor_role=COORDINATOR[1],
        )
    )
    played.advance(day(95, 20))
    # 16 planned (the cancelled one included), 1 performed
    assert played.read("HF-NURSE") == ("counted", "1/16", 1, 16)


@pytest.mark.parametrize("until", [100, 1300])  # before and after the end (1250 days)
def test_reviews_after_the_delivery_leave_the_plan_and_missed_ones_stay_missed(until):
    from given_when_then import consultation, delivery, ogtt

    played = Played(NOW)
    # OGTT on D0 (fasting 0.95 >= 0.92), expected delivery D+84: reviews every 15 days from
    # D+8, occurrence k+1 is D+8+15k..D+22+15k for k = 0..5 (the 6th starts on D+83)
    played.record(ogtt(NOW, 0.95, expected_delivery=day(84).date()))
    played.record(consultation(day(10)))  # review 1
    played.record(delivery(day(50, 6)))  # reviews 4-6 (from D+53) had not started: out
    played.advance(day(until, 20))
    # 1 on time; 2 (D+23..D+37) and 3 (D+38..D+52) missed: 1/3
    assert played.read("GD-REVIEWS") == ("counted", "1/3; 3 out: stopped", 1, 3)
