"""``parcours bench scale`` runs end to end on a small territory (so the bench cannot rot).

Real servers (the session's PostgreSQL and NATS; the bench makes its own database and
NATS prefix), the projections service as its own process, 200 enrolments.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_the_scale_bench_measures_a_small_territory(
    pg: Any, nats_server: Any, tmp_path: Path
) -> None:
    plot = tmp_path / "scale.svg"
    env = {**os.environ, "PARCOURS_DATABASE_URL": pg.url, "PARCOURS_NATS_URL": nats_server.url}
    run = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "bench", "scale", "--enrolments", "200",
         "--queries", "15", "--tail", "10", "--no-progress", "--svg", str(plot)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    loaded = int(re.search(r"loaded ([\d,]+) events", out)[1].replace(",", ""))
    assert loaded > 200 * 20  # an enrolment is its fact, the enrolment and ~19 tasks at least
    for view in ("timeline", "care", "indicators"):  # a full rebuild reads every event once
        rebuilt = re.search(rf"rebuild {view}: ([\d,]+) events", out)
        assert rebuilt and int(rebuilt[1].replace(",", "")) == loaded, out
    tail = re.search(r"catch-up: ([\d,]+) new events .* NATS pull\+ack ([\d,]+) msg/s", out)
    assert tail and int(tail[1].replace(",", "")) > 0 and int(tail[2].replace(",", "")) > 0, out
    assert re.search(r"three views [\d,]+ stream events/s = [\d.]+ of the limit", out), out
    for query in ("indicator list", "indicator detail", "case list", "patient timeline",
                  "pool worklist", "coordinator worklist", "no-op /health/live"):  # fmt: skip
        assert re.search(rf"{re.escape(query)}: p50 [\d.]+ ms, p95 [\d.]+ ms", out), query
    timeline = re.search(r"patient timeline: .*\(([\d,]+) B answers\)", out)
    assert int(timeline[1].replace(",", "")) > 1000  # real timelines, not 404s or empty lists
    locality = re.search(
        r"timeline locality: a patient's ([\d.]+) rows on ([\d.]+) heap pages", out
    )
    assert locality and float(locality[2]) <= float(locality[1]) / 5  # rebuilt patient by patient
    for store in ("events", "timeline", "care", "indicators"):
        assert re.search(rf"^  {store} +[\d,]+ +[\d,]+$", out, re.M), store
    drawn = plot.read_text()
    assert drawn.startswith("<svg") and drawn.count("<polyline") >= 3 + 3 + 4
