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
