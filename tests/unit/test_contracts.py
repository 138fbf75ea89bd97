"""The contracts: stored events keep decoding, and the published schemas match the code."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from contracts.events import EVENT_TYPES, envelope_decoder
from contracts.export import SCHEMA_DIR, export
from contracts.identity import ins_problem, synthetic_ins

SAMPLES = Path(__file__).parents[2] / "contracts" / "samples"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_has_a_golden_sample_that_still_decodes(event_type: str) -> None:
    sample = SAMPLES / f"{event_type}.json"
    assert sample.exists(), f"add a golden sample for {event_type} in contracts/samples/"
    envelope = envelope_decoder.decode(sample.read_bytes())
    assert envelope.type == event_type
    assert type(envelope.data).__struct_config__.tag == event_type


def test_a_stored_event_with_fields_from_a_newer_version_still_decodes() -> None:
    doc = json.loads((SAMPLES / "TaskScheduled.json").read_text())
    doc["data"]["added_in_a_later_version"] = {"anything": 1}
    doc["added_to_the_envelope"] = True
    envelope = envelope_decoder.decode(json.dumps(doc).encode())
    assert envelope.data.activity == "gp-consultation"


def test_event_tags_are_explicit_and_unique() -> None:
    for tag, cls in EVENT_TYPES.items():
        assert cls.__struct_config__.tag == tag
        assert cls.__struct_config__.frozen, f"{tag} must be frozen"
        assert not cls.__struct_config__.forbid_unknown_fields, f"{tag} must accept unknown fields"


def test_committed_schemas_match_what_the_code_exports(tmp_path: Path) -> None:
    export(tmp_path)
    for exported in tmp_path.iterdir():
        committed = SCHEMA_DIR / exported.name
        assert committed.exists(), f"run `parcours contracts export` ({exported.name} is missing)"
        assert committed.read_text() == exported.read_text(), (
            f"{exported.name} is stale: run `parcours contracts export` and commit the result"
        )


def test_asyncapi_names_the_events_channel_and_its_message() -> None:
    doc = json.loads((SCHEMA_DIR / "asyncapi.json").read_text())
    assert doc["asyncapi"].startswith("3.")
    assert doc["channels"]["events"]["address"] == "parcours.{cpts}.events.{category}"


@pytest.mark.parametrize("ins", ["295109912611193", "253072B07300470", "253072A07300443"])
def test_valid_ins_samples_are_accepted(ins: str) -> None:
    assert ins_problem(ins) is None


@pytest.mark.parametrize(
    ("ins", "reason"),
    [
        ("295109912611194", "key"),
        ("29510991261119", "15 characters"),
        ("2951099126111X3", "digits only"),
        ("253072C07300470", "digits only"),
        ("253072A07300470", "key"),  # the 2B key under 2A
    ],
)
def test_invalid_ins_are_refused_with_a_reason(ins: str, reason: str) -> None:
    problem = ins_problem(ins)
    assert problem is not None and reason in problem
    assert ins not in problem  # the reason never repeats the identifier


def test_synthetic_ins_are_valid_and_distinct() -> None:
    values = {synthetic_ins(n) for n in range(5000)}
    assert len(values) == 5000
    assert all(ins_problem(v) is None for v in values)


def test_fact_bodies_forbid_unknown_fields_but_stored_payloads_do_not() -> None:
    from contracts.facts import INBOUND_FACTS

    body = INBOUND_FACTS["DeathReported"]
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(
            b'{"type":"DeathReported","patient":{"ins":"x"},"died_at":"2026-01-01T00:00:00Z","x":1}',
            type=body,
        )
