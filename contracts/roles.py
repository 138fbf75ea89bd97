"""Roles of the people and systems that use Parcours."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Every role a token may carry. Professional roles are also task roles."""

    DISCHARGE_SYSTEM = "discharge-system"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    DPO = "dpo"  # the CPTS's data-protection officer (délégué à la protection des données)
    ADMIN = "admin"
    SERVICE = "service"
    # professionals
    NURSE = "nurse"
    GP = "gp"
    SPECIALIST = "specialist"
    CARDIOLOGIST = "cardiologist"
    PULMONOLOGIST = "pulmonologist"
    ENDOCRINOLOGIST = "endocrinologist"
    MIDWIFE = "midwife"
    OBSTETRICIAN = "obstetrician"
    DIETITIAN = "dietitian"
    PHYSIOTHERAPIST = "physiotherapist"
    PHARMACIST = "pharmacist"
    LAB = "lab"


PROFESSIONAL_ROLES: frozenset[Role] = frozenset(
    {
        Role.NURSE,
        Role.GP,
        Role.SPECIALIST,
        Role.CARDIOLOGIST,
        Role.PULMONOLOGIST,
        Role.ENDOCRINOLOGIST,
        Role.MIDWIFE,
        Role.OBSTETRICIAN,
        Role.DIETITIAN,
        Role.PHYSIOTHERAPIST,
        Role.PHARMACIST,
        Role.LAB,
    }
)

# Specialist roles that a token with role "specialist" and a matching specialty may act as.
SPECIALTIES: frozenset[Role] = frozenset(
    {Role.CARDIOLOGIST, Role.PULMONOLOGIST, Role.ENDOCRINOLOGIST, Role.OBSTETRICIAN}
)
