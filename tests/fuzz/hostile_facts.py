"""Facts of every type that the edge must store (or refuse with a 4xx): valid, and hostile
but storable — free text at its documented maximum, odd Unicode (right-to-left marks,
combining accents, emoji, zero-width joiners, line breaks), numbers at their clinical
bounds, dates at the edge of the past horizon, of the future tolerance, of birth dates."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import strategies as st

from contracts import shapes
from contracts.facts import FACT_TYPES
from contracts.identity import INS_TEST_OID, synthetic_ins
from tests.fuzz.cohort import GP, NOW, NURSE, ZONE
from tests.integration.clock import iso

ODD = "é\u0301\u202e\u200d🫀ß\tİ\u00a0\n\u2028Ω𝔘"  # storable: no control character but tab/LF
FREE_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(ODD), st.characters(exclude_categories=("Cs", "Cc"))),
    max_size=40,
)


def at_limit(limit: int) -> st.SearchStrategy[str]:
    """Text of exactly ``limit`` characters, odd ones included."""
    return (
        st.sampled_from(ODD)
        .map(lambda c: (c + "x" * 7) * (limit // 8 + 1))
        .map(lambda s: s[:limit])
    )


def text(limit: int) -> st.SearchStrategy[str]:
    return st.one_of(FREE_TEXT, at_limit(limit))


HORIZON = shapes.FACT_PAST_HORIZON
INSTANTS = st.one_of(
    st.integers(60, 60 * 24 * 20).map(lambda m: NOW - dt.timedelta(minutes=m)),
    st.sampled_from(
        [
            NOW - HORIZON + dt.timedelta(days=1),  # the oldest backfill accepted
            NOW + dt.timedelta(hours=23),  # clock skew of a sender
            (NOW - dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=14))),
            (NOW - dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=-12))),
        ]
    ),
)
DATES = INSTANTS.map(lambda t: t.date())
FUTURE_DATES = st.sampled_from([NOW.date() + dt.timedelta(days=60), dt.date(2099, 12, 31)])
RPPS = st.sampled_from([NURSE, GP, "00000000000", "99999999999"])
ICD10 = st.sampled_from(["I50.1", "I50.9", "J44.1", "O24.4", "E11", "Z99.99"])


def _at(instant: dt.datetime) -> str:
    return instant.isoformat() if instant.utcoffset() else iso(instant)


def identity(draw: Any, known: list[str]) -> dict[str, Any]:
    ins = draw(st.one_of(st.sampled_from(known), st.integers(90_000, 90_400).map(synthetic_ins)))
    person: dict[str, Any] = {"ins": ins, "oid": INS_TEST_OID}
    if draw(st.booleans()):  # hostile traits: every limit at once
        person |= {
            "birth_name": draw(text(shapes.NAME_MAX)),
            "first_names": draw(text(shapes.NAME_MAX)),
            "birthplace": draw(text(shapes.LABEL_MAX)),
            "sex": draw(st.sampled_from(["F", "M", "U"])),
            "birth_date": draw(st.sampled_from(["1900-01-01", NOW.date().isoformat()])),
        }
    person["commune"] = draw(st.sampled_from([ZONE, "2A004", "97411"]))
    return person


def fields(draw: Any, kind: str) -> dict[str, Any]:
    """The fields of one fact of ``kind`` (its instant and the rest)."""
    at = _at(draw(INSTANTS))
    n = st.none()
    match kind:
        case "AdmissionReported" | "ReadmissionReported":
            return {"admitted_at": at, "finess": "2A0000001", "diagnoses": [draw(ICD10)]}
        case "DischargeReported":
            out = draw(INSTANTS)
            days = draw(st.sampled_from([0, 6, 365]))
            return {
                "admitted_at": _at(out - dt.timedelta(days=days)),
                "discharged_at": _at(out),
                "diagnoses": draw(st.lists(ICD10, min_size=1, max_size=shapes.DIAGNOSES_MAX)),
                "finess": "750712184",
                "destination": draw(text(shapes.LABEL_MAX)),
                "care_team": [{"role": "nurse", "rpps": NURSE}, {"role": "gp", "rpps": GP}],
                "nyha_class": draw(st.sampled_from([None, 1, 4])),
            }
        case "DischargeCancelled":
            which = draw(st.sampled_from(["latest", "instant", "event"]))
            out: dict[str, Any] = {"cancelled_at": at}
            if which == "instant":
                out["discharged_at"] = _at(draw(INSTANTS))
            elif which == "event":
                out["discharge_event_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
            return out
        case "DeathReported":
            return {"died_at": at}
        case "LabResultReported":
            return {
                "collected_at": at,
                "loinc": draw(st.sampled_from(["2160-0", "33762-6", "9999999-9"])),
                "value": draw(st.sampled_from([-1e6, 0.0, 1e-300, 1e6])),
                "unit": draw(text(shapes.LABEL_MAX)),
                "lab": draw(st.one_of(n, text(shapes.LABEL_MAX))),
            }
        case "ConsultationReported":
            return {
                "consulted_at": at,
                "role": draw(st.sampled_from(["gp", "cardiologist", "lab"])),
                "rpps": draw(RPPS),
                "notes": draw(st.one_of(n, text(shapes.NOTE_MAX))),
            }
        case "NursingVisitReported":
            return {
                "visited_at": at,
                "rpps": draw(RPPS),
                "weight_kg": draw(st.sampled_from([None, 0.001, 400.0])),
                "systolic_mmhg": draw(st.sampled_from([40, 300])),
                "diastolic_mmhg": draw(st.sampled_from([20, 200])),
                "heart_rate_bpm": draw(st.sampled_from([20, 300])),
                "education": draw(st.booleans()),
                "notes": draw(text(shapes.NOTE_MAX)),
            }
        case "DeliveryReported":
            return {"delivered_at": at, "finess": draw(st.sampled_from([None, "2B0000002"]))}
        case "DispensingReported":
            return {"dispensed_at": at, "atc": draw(st.sampled_from(["C", "C03CA01"]))}
        case "VaccinationReported":
            return {"vaccinated_at": at, "vaccine": draw(text(shapes.LABEL_MAX))}
        case "RehabilitationStarted":
            return {"started_at": at, "kind": draw(text(shapes.LABEL_MAX))}
        case "DiagnosisReported":
            return {
                "diagnosed_at": at,
                "code": draw(st.sampled_from(["O24.4", "I50.1", "J44.1"])),
                "expected_delivery": draw(FUTURE_DATES).isoformat(),
            }
        case "GlucoseToleranceTestReported":
            return {
                "tested_at": at,
                "fasting_g_l": draw(st.sampled_from([0.0, 0.92, 10.0])),
                "one_hour_g_l": draw(st.sampled_from([None, 1.8, 10.0])),
                "two_hour_g_l": draw(st.sampled_from([None, 1.53])),
                "expected_delivery": draw(FUTURE_DATES).isoformat(),
            }
        case "SelfMonitoringReported":
            end = draw(DATES)
            readings = draw(st.sampled_from([0, 1, 10_000]))
            return {
                "period_start": (
                    end - dt.timedelta(days=draw(st.sampled_from([0, 7, 3650])))
                ).isoformat(),
                "period_end": end.isoformat(),
                "readings": readings,
                "above_target": draw(st.integers(0, readings)),
            }
        case "GPDeclared":  # joins the circle; closes an open GP-access request
            return {"declared_at": at, "rpps": draw(RPPS)}
        case "SharingOpposed":
            return {
                "opposed_at": at,
                "rpps": draw(RPPS),
                "notes": draw(st.one_of(n, text(shapes.NOTE_MAX))),
            }
    raise AssertionError(f"no fields for {kind}")


@st.composite
def facts(draw: Any, known: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(FACT_TYPES))
    return {"type": kind, "patient": identity(draw, known), **fields(draw, kind)}
