"""What the query routes share: parsing of period and as_of, the catalog, the reference day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar.datastructures import State
from litestar.params import Parameter

from contracts.roles import Role
from parcours.service import Resources
from projections.domain.cases import Catalog
from projections.domain.periods import local_day
from projections.query_params import as_of_param, period_param

__all__ = ["as_of_param", "period_param"]  # the shared parsers, for the routes importing them here

AUDIT_READERS = (Role.AUDITOR, Role.COORDINATOR, Role.ADMIN)

# Required, as the handlers require it (``period_param``), with its shape in the OpenAPI.
PeriodQuery = Annotated[
    str | None,
    Parameter(
        required=True,
        pattern=r"^(19[0-9][0-9]|2[01][0-9][0-9])(-(0[1-9]|1[0-2]|Q[1-4]))?$",
        description="a month (2026-03), a quarter (2026-Q1) or a year (2026)",
    ),
]


def resources(state: State) -> Resources:
    return state.resources


def catalog(state: State) -> Catalog:
    return state.catalog


async def reference_day(state: State, as_of: dt.datetime | None) -> dt.date:
    """The local day against which open windows are judged: as_of, or the service clock."""
    at = as_of or await resources(state).clock.now()
    return local_day(at)


def ratio(numerator: int, denominator: int, kind: str) -> float | None:
    if kind == "count_enrolled":
        return float(numerator)
    return round(numerator / denominator, 4) if denominator else None


def title(obj: Any, lang: str) -> str:
    return getattr(obj.title, lang, obj.title.fr)
