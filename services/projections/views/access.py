"""The access view (ACI mission 1): GP-access requests, unscheduled-care requests and GP
capacity, one current row each (``projections.domain.access``). The waiting list, the
capacity report and the mission's derived indicators read these tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import msgspec

from contracts.access import GPCapacityDeclared
from projections.domain.access import (
    GP_TYPES,
    SNP_TYPES,
    GPRequestRow,
    SNPRow,
    evolve_gp,
    evolve_snp,
    request_key,
)
from projections.domain.patients import patient_of
from projections.domain.pseudonyms import pseudonym
from projections.views import Item

GP_COLUMNS = list(GPRequestRow.__struct_fields__)
SNP_COLUMNS = list(SNPRow.__struct_fields__)


def _upsert(table: str, columns: list[str], key: str) -> str:
    values = ", ".join(f"${i + 1}" for i in range(len(columns)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


class AccessView:
    name = "access"
    tables = ("proj_gp_requests", "proj_snp_requests", "proj_gp_capacity")

    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def apply(
        self, conn: asyncpg.Connection, items: Sequence[Item], tables: Mapping[str, str]
    ) -> None:
        keys = {k for i in items if (k := request_key(i.envelope)) is not None}
        gp: dict = {}
        snp: dict = {}
        if keys:
            for r in await conn.fetch(
                f"SELECT * FROM {tables['proj_gp_requests']} WHERE request_id = ANY($1::uuid[])",
                list(keys),
            ):
                gp[r["request_id"]] = GPRequestRow(**dict(r))
            for r in await conn.fetch(
                f"SELECT * FROM {tables['proj_snp_requests']} WHERE request_id = ANY($1::uuid[])",
                list(keys),
            ):
                snp[r["request_id"]] = SNPRow(**dict(r))
        changed_gp, changed_snp, capacity = set(), set(), []
        for item in items:
            env = item.envelope
            if isinstance(env.data, GPCapacityDeclared):
                d = env.data
                capacity.append(
                    (env.cpts, d.gp, d.period_start, d.period_end, d.new_patients, d.profiles,
                     env.occurred_at)
                )  # fmt: skip
                continue
            key = request_key(env)
            patient = patient_of(env.stream)
            if key is None or patient is None:
                continue
            alias = pseudonym(self.secret, env.cpts, patient)
            if env.type in GP_TYPES:
                after = evolve_gp(gp.get(key), env, patient, alias)
                if after is not None and after is not gp.get(key):
                    gp[key], _ = after, changed_gp.add(key)
            elif env.type in SNP_TYPES:
                after_snp = evolve_snp(snp.get(key), env, patient, alias)
                if after_snp is not None and after_snp is not snp.get(key):
                    snp[key], _ = after_snp, changed_snp.add(key)
        if changed_gp:
            await conn.executemany(
                _upsert(tables["proj_gp_requests"], GP_COLUMNS, "request_id"),
                [msgspec.structs.astuple(gp[k]) for k in changed_gp],
            )
        if changed_snp:
            await conn.executemany(
                _upsert(tables["proj_snp_requests"], SNP_COLUMNS, "request_id"),
                [msgspec.structs.astuple(snp[k]) for k in changed_snp],
            )
        if capacity:
            await conn.executemany(
                f"INSERT INTO {tables['proj_gp_capacity']} (cpts, gp, period_start, period_end, "
                "new_patients, profiles, declared_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (cpts, gp, period_start, period_end) DO UPDATE SET "
                "new_patients = EXCLUDED.new_patients, profiles = EXCLUDED.profiles, "
                "declared_at = EXCLUDED.declared_at",
                capacity,
            )
