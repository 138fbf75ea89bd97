"""The engine never sees nor emits patient identity: facts come without it."""

from __future__ import annotations

import msgspec
from given_when_then import NOW, Story, consultation, day, team, visit

from contracts.facts import INBOUND_FACTS, payload_of
from contracts.identity import PatientIdentity
from contracts.pathway import PATHWAY_PAYLOADS

IDENTITY = PatientIdentity(
    ins="295109912611193",
    birth_name="DUPONTEL",
    first_names="Marguerite Alphonsine",
    sex="F",
    commune="75114",
)


def test_no_engine_event_type_has_a_field_for_patient_identity():
    identity_fields = set(PatientIdentity.__struct_fields__) | {"patient", "patient_id"}
    for cls in PATHWAY_PAYLOADS:
        assert not identity_fields & set(cls.__struct_fields__), cls


def test_a_whole_pathway_played_from_inbound_bodies_emits_no_identity():
    body = msgspec.convert(
        {
            "type": "DischargeReported",
            "patient": msgspec.to_builtins(IDENTITY),
            "admitted_at": day(-6).isoformat(),
            "discharged_at": NOW.isoformat(),
            "diagnoses": ["I50.1"],
            "finess": "750000001",
            "care_team": msgspec.to_builtins(team(gp="10000000001")),
        },
        INBOUND_FACTS["DischargeReported"],
    )
    story = Story()
    events = story.record(payload_of(body), zone=IDENTITY.commune)
    events += story.record(visit(day(2), weight=70))
    events += story.record(visit(day(4), weight=73))
    events += story.record(consultation(day(5)))
    encoded = msgspec.json.encode(events).decode()
    for trait in (IDENTITY.ins, IDENTITY.birth_name, "Marguerite", "1.2.250.1.213.1.4.8"):
        assert trait not in encoded
    assert len(events) > 20
