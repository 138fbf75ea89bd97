"""A FHIR R4 ``searchset`` Bundle of resources (plain dicts), shared by the services that
answer FHIR searches (pathways: PlanDefinition; projections: Task)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def searchset(resources: Sequence[dict[str, Any]], base: str) -> dict[str, Any]:
    """Every resource as a ``match`` entry, ``fullUrl`` ``<base>/<resourceType>/<id>``."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
