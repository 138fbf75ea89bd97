"""The synthetic territory of ``parcours bench scale``: real shapes, fresh ids, stream order."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path

import msgspec

from bench.scale_history import Territory, build_templates, history_rows, play
from contracts.events import payload_decoder
from pathways.domain import ProtocolCatalog

CATALOG = ProtocolCatalog.load_dir(
    Path(__file__).resolve().parents[2] / "services" / "pathways" / "protocols"
)
END = dt.date(2026, 11, 30)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]), text)


def test_a_heart_failure_story_is_the_deciders_discharge_plan() -> None:
    types = Counter(e.type for e in play("heart-failure-discharge", CATALOG, seed=3))
    # PROTOCOLS.md: one discharge enrols the patient with 19 tasks scheduled
    assert types["DischargeReported"] == 1
    assert types["PatientEnrolled"] == 1
    assert types["TaskScheduled"] == 19
    assert types["TaskCompleted"] > 0


def test_rows_decode_as_the_contracts_with_fresh_ids_in_stream_order() -> None:
    templates, weights = build_templates(CATALOG, per_protocol=2)
    rows = []
    for data, count in history_rows(templates, weights, 60, END, Territory(cpts=5), seed=2):
        lines = data.decode().splitlines()
        assert len(lines) == count
        rows += [line.split("\t") for line in lines]
    versions: dict[str, list[int]] = defaultdict(list)
    event_ids = set()
    for event_id, stream, version, kind, cpts, occurred, recorded, _, cause, *_, data in rows:
        payload_decoder.decode(_unescape(data))  # raises on a shape the contracts refuse
        assert msgspec.json.decode(_unescape(data))["type"] == kind
        assert "5ca1e000" not in data + event_id + cause  # no template id left
        assert cpts in {f"cpts-{i:04d}" for i in range(1, 6)}
        assert occurred == recorded and dt.date.fromisoformat(occurred[:10]) <= END
        versions[stream].append(int(version))
        event_ids.add(event_id)
    assert len(event_ids) == len(rows)  # fresh ids per enrolment
    assert len(versions) == 60  # one stream per enrolment
    for stream_versions in versions.values():  # each stream's rows in version order, no gap
        assert stream_versions == list(range(1, len(stream_versions) + 1))
    stamps = [r[5] for r in rows]
    assert stamps == sorted(stamps)  # one chunk here: the rows are in time order
    anchors = sorted(r[5][:10] for r in rows if r[2] == "1")
    assert anchors[0] >= str(END - dt.timedelta(days=3 * 365)) and anchors[-1] <= str(END)


def test_the_table_and_plot_take_a_store_only_size_beside_full_ones() -> None:
    from bench.scale import plot, table

    full = {
        "enrolments": 10_000, "events": 480_000, "copy_s": 6.0, "gen_s": 5.0, "index_s": 3.0,
        "read_limit": 40_000.0, "rebuild timeline": (48.0, 10_000.0),
        "rebuild care": (80.0, 6_000.0), "rebuild indicators": (80.0, 6_000.0),
        "pull_rate": 30_000.0, "catch_up": 3_000.0,
        "queries": {"patient timeline": (5.0, 10.0, 20_000.0)},
        "store": {"read a patient stream": (1.0, 2.0, 48.0)},
        "disk": {"events": (225_000_000, 99_000_000), "timeline": (198_000_000, 77_000_000)},
    }  # fmt: skip
    store_only = {
        "enrolments": 1_000_000, "events": 48_000_000, "copy_s": 600.0, "gen_s": 450.0,
        "index_s": 300.0, "store": {"read a patient stream": (1.5, 4.0, 48.0)},
        "disk": {"events": (22_500_000_000, 9_900_000_000)},
    }  # fmt: skip
    text = table(store_only)
    assert "rebuild" not in text and "80,000 rows/s" in text  # 48M rows / 600 s
    assert "0.25 of the limit" in table(full)  # rebuild timeline: 10k / 40k events/s
    drawn = plot([store_only, full], "caption")
    # one polyline per series: 2 latencies, 3 rebuilds, 2 disks; events and the stream read
    # reach both sizes (two points each)
    assert drawn.count("<polyline") == 7
    assert drawn.count("<circle") == 2 + 1 + 3 + 2 + 1
