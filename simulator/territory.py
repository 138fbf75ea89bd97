"""Professionals and patients of a synthetic territory, drawn from a seed."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from contracts.identity import synthetic_ins

# INSEE codes of the communes of a synthetic CPTS sector (Paris 14e and neighbours)
COMMUNES = ("75114", "92049", "92046", "94080", "92026")
ROLES_PER_100K = {
    "gp": 90,
    "nurse": 140,
    "cardiologist": 8,
    "pulmonologist": 5,
    "endocrinologist": 3,
    "midwife": 20,
    "dietitian": 10,
    "pharmacist": 60,
    "physiotherapist": 70,
    "lab": 6,
}
SPECIALTY_OF = {
    "cardiologist": "cardiology",
    "pulmonologist": "pneumology",
    "endocrinologist": "endocrinology",
}
BIRTH_NAMES = (
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS",
    "MOREAU", "LAURENT", "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID",
)  # fmt: skip
FIRST_NAMES_F = (
    "MARIE",
    "JEANNE",
    "FRANCOISE",
    "MONIQUE",
    "CATHERINE",
    "NATHALIE",
    "ISABELLE",
    "SYLVIE",
)
FIRST_NAMES_M = ("JEAN", "PIERRE", "MICHEL", "ANDRE", "PHILIPPE", "ALAIN", "BERNARD", "JACQUES")
HOSPITALS = ("750712184", "750100125", "920000650")


@dataclass(frozen=True)
class Professional:
    rpps: str
    role: str
    zones: tuple[str, ...]
    specialty: str | None = None


@dataclass(frozen=True)
class Patient:
    n: int
    ins: str
    sex: str
    birth_name: str
    first_names: str
    birth_date: dt.date
    commune: str
    gp: str | None  # RPPS of the médecin traitant, when they have one

    def identity(self) -> dict:
        return {
            "ins": self.ins,
            "oid": "1.2.250.1.213.1.4.10",  # the test OID: synthetic identities only
            "birth_name": self.birth_name,
            "first_names": self.first_names,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "commune": self.commune,
        }


@dataclass(frozen=True)
class Territory:
    cpts: str
    professionals: tuple[Professional, ...]

    def of_role(self, role: str) -> list[Professional]:
        return [p for p in self.professionals if p.role == role]


def _rpps(rng: random.Random) -> str:
    return "1" + "".join(str(rng.randrange(10)) for _ in range(10))


def make_territory(cpts: str, inhabitants: int, rng: random.Random) -> Territory:
    pros = []
    for role, per_100k in ROLES_PER_100K.items():
        for _ in range(max(2, inhabitants * per_100k // 100_000)):
            zones = tuple(sorted(rng.sample(COMMUNES, k=rng.randint(1, 3))))
            pros.append(Professional(_rpps(rng), role, zones, SPECIALTY_OF.get(role)))
    return Territory(cpts, tuple(pros))


def make_patient(
    n: int, territory: Territory, rng: random.Random, *, sex: str, age: int, today: dt.date
) -> Patient:
    gps = territory.of_role("gp")
    birth = today - dt.timedelta(days=age * 365 + rng.randrange(365))
    first = rng.choice(FIRST_NAMES_F if sex == "F" else FIRST_NAMES_M)
    return Patient(
        n=n,
        ins=synthetic_ins(n, 2 if sex == "F" else 1),
        sex=sex,
        birth_name=rng.choice(BIRTH_NAMES),
        first_names=first,
        birth_date=birth,
        commune=rng.choice(COMMUNES),
        gp=rng.choice(gps).rpps if rng.random() < 0.9 else None,
    )
