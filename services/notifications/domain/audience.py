"""Whom a task concerns, and which pools a professional hears (pure).

A caller is anything with ``cpts``, ``sub`` (the RPPS), ``role`` and
``actor_role`` (a specialist acts as their specialty): the HTTP layer passes its
verified token, tests pass a plain object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from contracts.notifications import zone_token
from contracts.roles import Role
from notifications.domain.routing import TaskView


class Caller(Protocol):
    @property
    def cpts(self) -> str: ...
    @property
    def sub(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def actor_role(self) -> str: ...


def heard_zones(zones: Iterable[str]) -> tuple[str, ...]:
    """The zone tokens among ``zones``, sorted and unique; what is not a zone is dropped."""
    out = set()
    for zone in zones:
        try:
            out.add(zone_token(zone))
        except ValueError:
            continue
    return tuple(sorted(out))


def concerns(task: TaskView, caller: Caller, zones: tuple[str, ...]) -> bool:
    """A task concerns the coordinators of its CPTS, its assignee, or (unassigned) the
    professionals of its role who hear its zone."""
    if task.cpts != caller.cpts:
        return False
    if caller.role == Role.COORDINATOR:
        return True
    if task.assignee is not None:
        return task.assignee == caller.sub
    return task.role == caller.actor_role and task.zone in zones


def task_role(role: str, specialty: str | None) -> str:
    """The role a professional's tasks carry: a specialist's specialty, else their role."""
    return specialty if role == Role.SPECIALIST and specialty else role
