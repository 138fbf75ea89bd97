"""Bodies of heart-failure facts for new synthetic patients (the batch and group-commit tests)."""

from __future__ import annotations

import datetime as dt

from contracts.identity import INS_TEST_OID, synthetic_ins
from tests.integration.clock import iso

DISCHARGE = dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC)


def discharge(n: int, **extra: object) -> dict:
    """Patient ``n`` discharged home after heart failure at ``DISCHARGE``: enrols."""
    return {
        "type": "DischargeReported",
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
        "admitted_at": iso(DISCHARGE - dt.timedelta(days=5)),
        "discharged_at": iso(DISCHARGE),
        "diagnoses": ["I50.1"],
        "finess": "750712184",
        **extra,
    }


def gp_visit(n: int, after: dt.timedelta = dt.timedelta(hours=2), **extra: object) -> dict:
    """Patient ``n`` seen by their GP ``after`` the discharge: completes the GP task."""
    return {
        "type": "ConsultationReported",
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
        "consulted_at": iso(DISCHARGE + after),
        "role": "gp",
        "rpps": "10000000002",
        **extra,
    }


def lab_result(n: int, **extra: object) -> dict:
    """A creatinine result for patient ``n``: nothing follows from it alone."""
    return {
        "type": "LabResultReported",
        "patient": {"ins": synthetic_ins(n), "oid": INS_TEST_OID},
        "collected_at": iso(DISCHARGE + dt.timedelta(hours=1)),
        "loinc": "2160-0",
        "value": 82.0,
        "unit": "umol/L",
        **extra,
    }
