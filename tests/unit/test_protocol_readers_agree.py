"""The two readers of a protocol file agree on its indicators.

The pathways service validates protocol files strictly (``pathways.domain``); the
projections service computes indicators from the same files through a lenient reader
(``contracts.indicators``) that skips what it does not know. For every shipped file,
both must read the same protocol id, version, titles and status, and the same
indicators: codes, kinds, activities or facts, windows, exclusions, every field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec
import pytest

from contracts import indicators as reader
from pathways.domain.catalog import parse_protocol as parse_strictly

PROTOCOLS = Path(__file__).resolve().parents[2] / "services" / "pathways" / "protocols"
FILES = sorted(PROTOCOLS.glob("*.toml"))


def test_the_protocols_folder_ships_files() -> None:
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_projections_read_the_same_indicators_as_the_strict_protocol_model(path: Path):
    text = path.read_text(encoding="utf-8")
    strict = parse_strictly(text, str(path))
    lenient = reader.parse_protocol(tomllib.loads(text), path)

    assert lenient.skipped == [], "the projections skip indicator kinds the protocol declares"
    assert (lenient.id, lenient.version, lenient.status) == (
        strict.id,
        str(strict.version),
        strict.status,
    )
    assert msgspec.to_builtins(lenient.title) == msgspec.to_builtins(strict.title)
    assert [i.code for i in lenient.indicators] == [i.code for i in strict.indicators]
    for read, validated in zip(lenient.indicators, strict.indicators, strict=True):
        assert msgspec.to_builtins(read) == msgspec.to_builtins(validated), read.code
