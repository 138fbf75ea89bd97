"""The soak's short form (``make test-faults``): one minute of steady traffic on the
services as processes; nothing fails, the backlogs drain once the load stops, and the
figures (RSS per process, backlogs, p99) are printed. The long form is
``parcours bench soak --minutes 20``."""

from __future__ import annotations

import os

import pytest

from bench.soak import soak

pytestmark = [pytest.mark.faults, pytest.mark.soak, pytest.mark.timeout(1800)]

MINUTES = int(os.environ.get("PARCOURS_SOAK_MINUTES", "1"))
RATE = float(os.environ.get("PARCOURS_SOAK_RATE", "10"))


def test_a_short_soak_fails_nothing_and_drains(capsys: pytest.CaptureFixture) -> None:
    result = soak(rate=RATE, minutes=MINUTES)
    with capsys.disabled():
        print("\n" + "\n".join(result.lines()))
    assert len(result.minutes) == MINUTES
    assert result.errors == 0, [m.run.line() for m in result.minutes]
    assert all(m.run.accepted > 0 for m in result.minutes)
    assert set(result.minutes[-1].rss_mb) == {"relay", "pathways", "notifications", "projections"}
    assert result.drained_in is not None, "a backlog did not drain within 5 minutes"
