"""The identifier shapes of ``contracts.shapes``: the samples of PROTOCOLS.md § 5 and the
usual codes pass; the same written with other Unicode digits, with a trailing line break
with a NUL or a non-breaking space do not; JSON nesting is measured outside strings."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from contracts import shapes
from contracts.identity import ins_problem
from parcours.bodies import too_deep

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

SAMPLES: list[tuple[Any, str]] = [
    (shapes.Rpps, "10000000001"),
    (shapes.Finess, "750712184"),
    (shapes.Finess, "2A0000123"),
    (shapes.CptsSlug, "cpts-paris-14"),
    (shapes.SubjectId, "CHU-ROUEN_1"),
    (shapes.ZoneCode, "Rouen Nord"),
    (shapes.InseeCode, "75114"),
    (shapes.Loinc, "2160-0"),
    (shapes.Atc, "C03CA01"),
    (shapes.Icd10, "I50.1"),
    (shapes.Icd10, "J44"),
]


def accepts(kind: Any, value: Any) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return False
    return True


@pytest.mark.parametrize(("kind", "value"), SAMPLES, ids=[v for _, v in SAMPLES])
def test_a_well_formed_identifier_passes_and_its_lookalikes_do_not(kind: Any, value: str) -> None:
    assert accepts(kind, value)
    for lookalike in (
        value.translate(ARABIC_INDIC),
        value.translate(FULLWIDTH),
        value + "\n",
        value + "\x00",
        value + "\u00a0",  # a non-breaking space
    ):
        assert lookalike == value or not accepts(kind, lookalike), repr(lookalike)


@pytest.mark.parametrize("ins", ["295109912611193", "253072B07300470", "253072A07300443"])
def test_the_ins_samples_pass_and_their_unicode_digit_twins_do_not(ins: str) -> None:
    assert ins_problem(ins) is None
    twin = ins[0] + ins[1:].translate(ARABIC_INDIC)
    assert ins_problem(twin) is not None
    assert ins_problem(ins[0] + ins[1:].translate(FULLWIDTH)) is not None


def test_free_text_is_bounded_and_holds_no_control_character() -> None:
    assert accepts(shapes.Note, "Patiente vue à domicile.\nPoids stable.\tRAS")
    assert not accepts(shapes.Note, "x" * (shapes.NOTE_MAX + 1))
    assert not accepts(shapes.Name, "Marie\x00Josèphe")
    assert not accepts(shapes.Name, "Marie\x1bJosèphe")
    assert not accepts(shapes.Zones, ["Z1"] * (shapes.ZONES_MAX + 1))


def test_nesting_is_counted_outside_strings() -> None:
    assert not too_deep(b"[" * 32 + b"]" * 32)
    assert too_deep(b"[" * 33 + b"]" * 33)
    assert too_deep(b"[{" * 17 + b"}]" * 17)
    assert too_deep(b"[" * 100_000)  # unbalanced, still refused before any decoder recurses
    brackets_in_a_string = b'{"notes": "' + b"[" * 100 + b'"}'
    assert not too_deep(brackets_in_a_string)
    escaped_quote = b'{"a": "\\"' + b"[" * 100 + b'"}'
    assert not too_deep(escaped_quote)
    # NDJSON: each line on its own
    lines = b"\n".join([b'{"a": [[[]]]}'] * 100)
    assert not too_deep(lines, lines=True)
