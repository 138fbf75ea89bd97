"""The indicators view stores each patient's evidence as msgpack (``proj_case_state``),
with ``array_like`` Structs: their fields are stored by position, not by name.

``golden/case_state_v1.msgpack`` was encoded once, by the code of the day it was
committed, from ``EXPECTED`` below. Today's code must decode those bytes to the
same values and encode the values back to the same bytes. A field inserted,
removed, reordered or retyped in ``Enr``, ``Task``, ``Fact`` or ``Outcome``
breaks the rows already stored, and this test.

Appending a field (with a default) is the one allowed change: old rows still
decode (the missing trailing fields take their defaults), but they re-encode
longer. Then keep this file, add ``case_state_v2.msgpack`` encoded with the new
field, and check both: v1 decodes, v2 decodes and re-encodes identically.
"""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from pathlib import Path

import msgspec

from projections.domain.cases import Enr, Fact, Outcome, Task
from projections.views.cases import _Stored

GOLDEN_V1 = Path(__file__).with_name("golden") / "case_state_v1.msgpack"
# v2: Task gained ``cause`` and ``plan`` (appended, with defaults)
GOLDEN_V2 = Path(__file__).with_name("golden") / "case_state_v2.msgpack"
# v3: Enr gained ``cancelled_by`` and ``cancelled_as`` (appended, with defaults)
GOLDEN = Path(__file__).with_name("golden") / "case_state_v3.msgpack"


def _id(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def _at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=dt.UTC)


EXPECTED_V1 = _Stored(
    cpts="demo",
    patient_id=_id(1),
    enrolments=(
        Enr(_id(10), "heart-failure", "1", _at(2), _id(100), _id(99)),
        Enr(_id(11), "copd", "2", _at(5), _id(101)),
    ),
    tasks=(
        Task(
            _id(20),
            _id(10),
            "gp-visit",
            1,
            _at(9),
            "completed",
            _at(6, 15),
            True,
            _id(200),
            _id(201),
            _id(202),
        ),
        Task(_id(21), _id(10), "nurse-visit", 3, _at(12), scheduled_event=_id(203)),
        Task(_id(22), _id(11), "pulmonology", 1),
    ),
    facts=(Fact("DischargeReported", _at(2), _id(99)), Fact("DeathReported", _at(20), _id(300))),
    outcomes={
        f"{_id(10)}/HF-GP7": Outcome("met", 1, 1, (_id(100), _id(201)), None, 4, 7),
        f"{_id(10)}/HF-NURSE": Outcome("not_met", 0, 3, (_id(100),), window_end=56),
        f"{_id(11)}/COPD-GP7": Outcome("excluded", 0, 0, (_id(101), _id(300)), "DeathReported", 15),
    },
    valid_from=_at(20, 10),
)


EXPECTED_V2 = msgspec.structs.replace(
    EXPECTED_V1,
    tasks=(
        *EXPECTED_V1.tasks[:2],
        msgspec.structs.replace(
            EXPECTED_V1.tasks[2], status="cancelled", cause="closure", plan="2"
        ),
    ),
)


EXPECTED = msgspec.structs.replace(
    EXPECTED_V2,
    enrolments=(
        EXPECTED_V2.enrolments[0],
        msgspec.structs.replace(
            EXPECTED_V2.enrolments[1], cancelled_by=_id(102), cancelled_as="DischargeCancelled"
        ),
    ),
)


def test_rows_stored_before_a_field_was_appended_decode_with_its_default() -> None:
    assert msgspec.msgpack.decode(GOLDEN_V1.read_bytes(), type=_Stored) == EXPECTED_V1
    assert msgspec.msgpack.decode(GOLDEN_V2.read_bytes(), type=_Stored) == EXPECTED_V2


def test_stored_case_state_decodes_by_position_to_the_same_values() -> None:
    stored = GOLDEN.read_bytes()
    assert msgspec.msgpack.decode(stored, type=_Stored) == EXPECTED


def test_stored_case_state_re_encodes_to_the_same_bytes() -> None:
    stored = GOLDEN.read_bytes()
    decoded = msgspec.msgpack.decode(stored, type=_Stored)
    assert msgspec.msgpack.encode(decoded) == stored
    assert msgspec.msgpack.encode(EXPECTED) == stored


def test_the_evidence_structs_are_stored_as_arrays() -> None:
    """What makes the golden bytes matter: positions, not names, are stored."""
    raw = msgspec.msgpack.decode(GOLDEN.read_bytes())
    assert raw["enrolments"][1] == [
        str(_id(11)),
        "copd",
        "2",
        raw["enrolments"][1][3],
        str(_id(101)),
        None,
        str(_id(102)),
        "DischargeCancelled",
    ]
    assert raw["facts"][0][0] == "DischargeReported"


def test_every_array_like_struct_warns_that_fields_are_only_appended() -> None:
    root = Path(__file__).resolve().parents[2]
    unwarned, found = [], 0
    for folder in ("services", "parcours", "contracts"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and any(
                    k.arg == "array_like" for k in node.keywords
                ):
                    found += 1
                    doc = (ast.get_docstring(node) or "").lower()
                    # a wire format read in the same statement that writes it is exempt
                    if "append fields only" not in doc and "not persisted" not in doc:
                        unwarned.append(f"{path.relative_to(root)}:{node.name}")
    assert found >= 4
    assert unwarned == []
