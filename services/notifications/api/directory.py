"""HTTP: the professional directory of each CPTS, managed by its coordinators.

``/v1/directory/professionals``: RPPS, role, specialty, zones (the pools a
professional hears), active or not. The directory gives a professional's zones
to the feeds and digests (a token's ``zones`` claim stands in for
professionals not in it), lists digest recipients, and is what
``parcours notifications nats-config`` turns into NATS users. Every change is also
recorded as a ``ProfessionalListed`` event (``notifications.directory_events``), from
which the projections keep their copy of the zones.
``/v1/directory/sector``: the zone of pool tasks whose patient has none.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, patch, post, put
from litestar.datastructures import State
from litestar.params import Parameter

from contracts import shapes
from contracts.notifications import zone_token
from contracts.roles import PROFESSIONAL_ROLES, SPECIALTIES, Role
from notifications.directory import (
    SELECT_PROFESSIONALS,
    STAFF_ROLES,
    Professional,
    find,
    row_to_professional,
)
from notifications.directory_events import record_listing
from parcours.auth import Principal, requires
from parcours.problems import Problem
from parcours.service import Resources, correlation_id

MANAGERS = (Role.COORDINATOR, Role.ADMIN)


def _correlation(request: Request[Any, Any, Any]) -> str:
    return correlation_id(request.scope.get("state", {}))


READERS = (Role.COORDINATOR, Role.ADMIN, Role.SERVICE)
# staff are listed too: who signs in through the OpenID provider gets her role from here
ROLE_NAMES = sorted(str(r) for r in (*PROFESSIONAL_ROLES, *STAFF_ROLES))


class NewProfessional(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rpps: shapes.Rpps
    role: shapes.Label  # type: ignore[valid-type]  # a professional role: checked below
    specialty: shapes.Label | None = None  # type: ignore[valid-type]
    zones: shapes.Zones = []  # type: ignore[valid-type]
    active: bool = True


class ProfessionalChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    role: shapes.Label | None = None  # type: ignore[valid-type]
    specialty: shapes.Label | None = None  # type: ignore[valid-type]
    zones: shapes.Zones | None = None  # type: ignore[valid-type]
    active: bool | None = None


class ProfessionalList(msgspec.Struct, frozen=True):
    professionals: list[Professional]


class Sector(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    default_zone: shapes.ZoneCode


def _check_role(role: str, specialty: str | None) -> None:
    if role not in ROLE_NAMES:
        raise Problem(
            422,
            "Invalid field",
            "this role is not a professional or staff role",
            field="role",
            accepted=ROLE_NAMES,
        )
    if specialty is not None and specialty not in {str(s) for s in SPECIALTIES}:
        raise Problem(
            422,
            "Invalid field",
            "this specialty is not known",
            field="specialty",
            accepted=sorted(str(s) for s in SPECIALTIES),
        )


def _zones(zones: list[str]) -> list[str]:
    out = []
    for i, zone in enumerate(zones):
        try:
            out.append(zone_token(zone))
        except ValueError as exc:
            raise Problem(422, "Invalid field", str(exc), field=f"zones[{i}]") from None
    return sorted(set(out))


@post(
    "/v1/directory/professionals",
    guards=[requires(*MANAGERS)],
    tags=["directory"],
    summary="Add a professional to the CPTS directory",
    status_code=201,
)
async def add_professional(
    request: Request[Principal, Any, Any], state: State, data: NewProfessional
) -> Professional:
    _check_role(data.role, data.specialty)
    resources: Resources = state.resources
    cpts = request.user.cpts
    now = await resources.clock.now()
    async with resources.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO directory_professionals (cpts, rpps, role, specialty, zones, active)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
               RETURNING cpts, rpps, role, specialty, zones, active""",
            cpts,
            data.rpps,
            data.role,
            data.specialty,
            _zones(data.zones),
            data.active,
        )
        if row is None:
            raise Problem(
                409,
                "Already in the directory",
                "this RPPS is already in the directory of this CPTS; PATCH it to change it",
                field="rpps",
            )
        entry = row_to_professional(row)
        await record_listing(conn, entry, request.user, now, _correlation(request))
    return entry


@get(
    "/v1/directory/professionals",
    guards=[requires(*READERS)],
    tags=["directory"],
    summary="List the CPTS directory",
)
async def list_professionals(
    request: Request[Principal, Any, Any],
    state: State,
    role: str | None = None,
    zone: str | None = None,
    active: bool | None = None,
) -> ProfessionalList:
    resources: Resources = state.resources
    rows = await resources.pool.fetch(
        f"""{SELECT_PROFESSIONALS} WHERE cpts = $1 AND ($2::text IS NULL OR role = $2)
              AND ($3::text IS NULL OR $3 = ANY(zones)) AND ($4::bool IS NULL OR active = $4)
            ORDER BY rpps""",
        request.user.cpts,
        role,
        zone,
        active,
    )
    return ProfessionalList([row_to_professional(r) for r in rows])


async def _existing(resources: Resources, cpts: str, rpps: str) -> Professional:
    found = await find(resources.pool, cpts, rpps)
    if found is None:
        raise Problem(404, "Not in the directory", "this RPPS is not in the directory of this CPTS")
    return found


@get(
    "/v1/directory/professionals/{rpps:str}",
    guards=[requires(*READERS)],
    tags=["directory"],
    summary="One professional of the directory",
)
async def get_professional(
    request: Request[Principal, Any, Any],
    state: State,
    rpps: Annotated[str, Parameter(pattern=shapes.RPPS_PATTERN)],
) -> Professional:
    return await _existing(state.resources, request.user.cpts, rpps)


@patch(
    "/v1/directory/professionals/{rpps:str}",
    guards=[requires(*MANAGERS)],
    tags=["directory"],
    summary="Change a professional's role, zones or activity",
)
async def change_professional(
    request: Request[Principal, Any, Any],
    state: State,
    rpps: Annotated[str, Parameter(pattern=shapes.RPPS_PATTERN)],
    data: ProfessionalChange,
) -> Professional:
    resources: Resources = state.resources
    current = await _existing(resources, request.user.cpts, rpps)
    role = data.role if data.role is not None else current.role
    specialty = data.specialty if data.specialty is not None else current.specialty
    _check_role(role, specialty)
    zones = _zones(data.zones) if data.zones is not None else current.zones
    active = data.active if data.active is not None else current.active
    now = await resources.clock.now()
    async with resources.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """UPDATE directory_professionals
               SET role = $3, specialty = $4, zones = $5, active = $6, updated_at = now()
               WHERE cpts = $1 AND rpps = $2
               RETURNING cpts, rpps, role, specialty, zones, active""",
            request.user.cpts,
            rpps,
            role,
            specialty,
            zones,
            active,
        )
        entry = row_to_professional(row)
        await record_listing(conn, entry, request.user, now, _correlation(request))
    return entry


@put(
    "/v1/directory/sector",
    guards=[requires(*MANAGERS)],
    tags=["directory"],
    summary="Set the zone of pool tasks whose patient has no zone",
)
async def set_sector(request: Request[Principal, Any, Any], state: State, data: Sector) -> Sector:
    try:
        zone = zone_token(data.default_zone)
    except ValueError as exc:
        raise Problem(422, "Invalid field", str(exc), field="default_zone") from None
    await state.resources.pool.execute(
        """INSERT INTO directory_sectors (cpts, default_zone) VALUES ($1, $2)
           ON CONFLICT (cpts) DO UPDATE SET default_zone = excluded.default_zone, updated_at = now()""",
        request.user.cpts,
        zone,
    )
    return Sector(default_zone=zone)


ROUTES = [add_professional, list_professionals, get_professional, change_professional, set_sector]
