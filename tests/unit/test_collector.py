"""Every ``parcours`` process runs the cyclic collector less often (``parcours.collector``),
and a patient's stored evidence is not tracked by it at all (it cannot form a cycle)."""

from __future__ import annotations

import datetime as dt
import gc
import uuid

import pytest

from parcours import collector
from parcours.cli import main
from projections.domain.cases import PatientCases
from projections.domain.evidence import Enr, Fact, Outcome, Task


def test_the_cli_sets_the_collector_before_running_a_command():
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with pytest.raises(SystemExit):
            main(["--help"])
        assert gc.get_threshold() == collector.THRESHOLDS
        assert gc.get_freeze_count() > 0  # start-up objects out of every pass
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_stored_evidence_is_not_tracked_by_the_collector():
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    ids = [uuid.uuid4() for _ in range(3)]
    objects = [
        Enr(ids[0], "heart-failure-discharge", "1", at, ids[1]),
        Task(ids[2], ids[0], "nurse-visit", 1, at),
        Fact("DeathReported", at, ids[1]),
        Outcome("met", 1, 1, (ids[1],)),
        PatientCases(cpts="demo", patient_id=ids[1]),
    ]
    assert [gc.is_tracked(o) for o in objects] == [False] * len(objects)
