"""A FHIR R4 ``searchset`` Bundle of resources (plain dicts), shared by the services that
answer FHIR searches (pathways: PlanDefinition; projections: Task)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def searchset(
    resources: Sequence[dict[str, Any]], base: str, *, complete: bool = True
) -> dict[str, Any]:
    """Every resource as a ``match`` entry, ``fullUrl`` ``<base>/<resourceType>/<id>``;
    ``total`` only when ``complete`` (the search was not cut at a limit)."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if complete:
        bundle["total"] = len(resources)
    bundle["entry"] = [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return bundle
