"""PROTOCOLS.md § 0: a pause (readmission) and its resume shift the remaining windows by
whole calendar days in Europe/Paris: a due date never moves by an hour across a
daylight-saving change, nor by the hours of the day the patient went in and came out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from given_when_then import PARIS, Story, day, discharge, readmission

from contracts.pathway import EnrolmentResumed, PatientEnrolled, TaskScheduled

# (D0, paused on D+n at 08:00, resumed on D+m at 16:00, the change between them)
CASES = {
    # summer time starts on Sunday 29 March 2026 (D+27): 02:00 -> 03:00
    "march": (datetime(2026, 3, 2, 14, 0, tzinfo=PARIS), 20, 30),
    # winter time starts on Sunday 25 October 2026 (D+20): 03:00 -> 02:00
    "october": (datetime(2026, 10, 5, 14, 0, tzinfo=PARIS), 15, 22),
}


def _local(at: datetime) -> datetime:
    return at.astimezone(PARIS)


@pytest.mark.parametrize("season", CASES)
def test_a_pause_across_a_daylight_saving_change_keeps_due_dates_on_whole_paris_days(season):
    d0, paused_on, resumed_on = CASES[season]
    story = Story(now=d0)
    story.record(discharge(d0, "I50.1"), now=d0)
    before = {t.task_id: t for t in story.events(TaskScheduled)}
    went_in = day(paused_on, 8, base=d0)
    story.record(readmission(went_in), now=went_in)
    came_out = day(resumed_on, 16, base=d0)
    # a discharge home for another reason resumes the pathway
    events = story.record(discharge(came_out, "J18.9"), now=came_out)
    # whole days: from the local date of the pause to the local date of the resumption
    shift = timedelta(days=resumed_on - paused_on)
    replanned = [e for e in events if isinstance(e, TaskScheduled)]
    assert replanned  # the nursing visits still ahead, the cardiology consultation, ...
    for task in replanned:
        old = before[next(i for i in before if str(i) in (task.reason or ""))]
        for new_at, old_at in ((task.earliest, old.earliest), (task.due, old.due)):
            # same wall-clock time (23:59:59 for a due date), the date moved by whole days
            assert _local(new_at).time() == _local(old_at).time(), (task.activity, new_at)
            assert _local(new_at).date() == _local(old_at).date() + shift
    [resumed] = [e for e in events if isinstance(e, EnrolmentResumed)]
    [enrolled] = story.events(PatientEnrolled)
    assert resumed.ends_at is not None and enrolled.ends_at is not None
    assert _local(resumed.ends_at).time() == _local(enrolled.ends_at).time()
    assert _local(resumed.ends_at).date() == _local(enrolled.ends_at).date() + shift
