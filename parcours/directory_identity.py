"""Who a signed-in professional is, for every service: her entry in the CPTS directory.

An OpenID token (Pro Santé Connect) proves an RPPS and nothing else: the role, the
CPTS, the specialty and the zones come from the directory, never from the token.
The directory is the ``directory_professionals`` table that the notifications
service keeps (its migrations create it, its coordinators' API writes it); every
service shares the one database, and this module only reads the table, through
one query: no service imports another. Coordinators, auditors and admins are
listed there too, with their role.

An RPPS listed (active) in one CPTS signs into it. Listed in several, the caller
names the CPTS (``X-Parcours-CPTS`` on the API, a choice at the browser sign-in);
without it the sign-in is refused with the list of CPTS to choose from.
"""

from __future__ import annotations

from typing import Any

from parcours.principal import Principal

_ACTIVE = """SELECT cpts, role, specialty, zones FROM directory_professionals
             WHERE rpps = $1 AND active ORDER BY cpts"""


class NotInDirectory(Exception):
    """The RPPS has no active entry (or none in the CPTS asked for)."""


class SeveralCpts(Exception):
    """The RPPS is listed in several CPTS and none was named."""

    def __init__(self, cpts: list[str]) -> None:
        super().__init__("this professional is listed in several CPTS: name one")
        self.cpts = cpts


async def entries(db: Any, rpps: str) -> list[Principal]:
    rows = await db.fetch(_ACTIVE, rpps)
    return [
        Principal(
            sub=rpps,
            role=r["role"],
            cpts=r["cpts"],
            specialty=r["specialty"],
            zones=tuple(r["zones"]),
        )
        for r in rows
    ]


async def principal_for(db: Any, rpps: str, cpts: str | None = None) -> Principal:
    """The directory's principal for ``rpps`` (in ``cpts`` when given)."""
    found = await entries(db, rpps)
    if cpts is not None:
        found = [p for p in found if p.cpts == cpts]
    if not found:
        raise NotInDirectory("this professional is not in the CPTS directory (or not active)")
    if len(found) > 1:
        raise SeveralCpts([p.cpts for p in found])
    return found[0]
