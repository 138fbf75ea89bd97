"""Shared pieces of the access-to-care scenarios (GP access, SNP) on the virtual clock."""

from __future__ import annotations

import datetime as dt

from contracts.identity import INS_TEST_OID, synthetic_ins
from tests.integration.clock import iso

START = dt.datetime(2026, 3, 9, 8, tzinfo=dt.UTC)  # Monday 9 March 2026, 09:00 in Paris
GP_A, GP_B, GP_C = "10000000011", "10000000012", "10000000013"
NURSE, PHARMACIST = "10000000021", "10000000022"
ZONE = "69123"


def patient(n: int, born: str | None = "1950-05-01", commune: str = ZONE, **traits) -> dict:  # type: ignore[no-untyped-def]
    """Synthetic patient ``n`` (test OID) with identity traits the views must never show."""
    body = {"ins": synthetic_ins(n), "oid": INS_TEST_OID, "commune": commune, **traits}
    if born is not None:
        body["birth_date"] = born
    return body


def gp_declared(n: int, gp: str, at: dt.datetime) -> dict:
    return {
        "type": "GPDeclared",
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
        "rpps": gp,
        "declared_at": iso(at),
    }


def hf_discharge(n: int, at: dt.datetime, care_team: list | None = None) -> dict:
    return {
        "type": "DischargeReported",
        "patient": patient(n),
        "admitted_at": iso(at - dt.timedelta(days=5)),
        "discharged_at": iso(at),
        "diagnoses": ["I50.1"],
        "finess": "750712184",
        "care_team": care_team or [],
    }
