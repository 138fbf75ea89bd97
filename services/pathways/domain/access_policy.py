"""The GP-access priority policy (ACI mission 1-A), as a versioned data file.

``parse_access_policy(text, file)`` reads and validates one TOML file
(``services/pathways/policies/gp-access-priority.vN.toml``); a bad file raises
``ProtocolError`` (file, path inside it, reason), like the protocol files.
``AccessPolicy.assess(named, age, recent_discharge)`` turns a request's criteria
into a score, a priority group and a target delay. Pure: no clock, no IO besides
``load_access_policy`` reading the file it is given.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from pathways.domain.catalog import ProtocolError

# What a referrer may name (the age criteria come from the age, the recent discharge from
# the patient's record); ``named_by`` aliases (c2s, ame) name a criterion too.
NAMEABLE = frozenset({"ald", "precarity", "pregnancy", "disability", "gp-left"})
DERIVED = frozenset({"age-70-plus", "child", "recent-discharge"})


class Source(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    citation: str
    used_for: str
    url: str | None = None


class Metadata(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    choices: list[str]
    sources: list[Source]


class Criterion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    weight: int
    label: str
    source: str
    age_at_least: int | None = None
    age_below: int | None = None
    named_by: list[str] = []
    recent_discharge_days: int | None = None


class Band(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    group: str
    min_score: int
    target_days: int


class Timers(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    contact_working_days: int
    declaration_check_days: int


class UnscheduledWindow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    within_hours: int
    escalate_before_hours: int


class Assessment(msgspec.Struct, frozen=True):
    criteria: list[str]  # the criteria met, in the policy's order
    score: int
    group: str
    target_days: int


class AccessPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    version: int
    title: dict[str, str]
    metadata: Metadata
    criteria: list[Criterion]
    bands: list[Band]
    timers: Timers
    unscheduled: list[UnscheduledWindow]

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    @property
    def recent_discharge_days(self) -> int:
        c = self.criterion("recent-discharge")
        return c.recent_discharge_days or 0 if c else 0

    def canonical(self, named: list[str]) -> set[str]:
        """The criteria ids that ``named`` (ids or aliases such as c2s, ame) stand for."""
        out = set()
        for name in named:
            for c in self.criteria:
                if name == c.id or name in c.named_by:
                    out.add(c.id)
        return out

    def assess(self, named: list[str], age: int | None, recent_discharge: bool) -> Assessment:
        met = self.canonical(named) & NAMEABLE
        for c in self.criteria:
            if age is not None and c.age_at_least is not None and age >= c.age_at_least:
                met.add(c.id)
            if age is not None and c.age_below is not None and age < c.age_below:
                met.add(c.id)
            if c.recent_discharge_days is not None and recent_discharge:
                met.add(c.id)
        ordered = [c for c in self.criteria if c.id in met]
        score = sum(c.weight for c in ordered)
        band = next(b for b in self.bands if score >= b.min_score)  # the last has min 0
        return Assessment([c.id for c in ordered], score, band.group, band.target_days)

    def window(self, within_hours: int) -> UnscheduledWindow | None:
        return next((w for w in self.unscheduled if w.within_hours == within_hours), None)


def _first_problem(p: AccessPolicy) -> tuple[str, str] | None:
    sources = {s.id for s in p.metadata.sources}
    if p.version < 1:
        return "version", "a policy version is a whole number from 1"
    seen: set[str] = set()
    for i, c in enumerate(p.criteria):
        where = f"criteria[{i}]"
        if c.id in seen:
            return f"{where}.id", f"criterion {c.id!r} appears twice"
        seen.add(c.id)
        if c.id not in NAMEABLE | DERIVED:
            known = ", ".join(sorted(NAMEABLE | DERIVED))
            return f"{where}.id", f"unknown criterion {c.id!r} (known: {known})"
        if not 0 <= c.weight <= 1000:
            return f"{where}.weight", "a weight is between 0 and 1000"
        if c.source not in sources:
            return f"{where}.source", f"source {c.source!r} is not in metadata.sources"
        if c.id == "recent-discharge" and not (c.recent_discharge_days or 0) > 0:
            return f"{where}.recent_discharge_days", "say how many days a discharge is recent"
        if c.id == "age-70-plus" and c.age_at_least is None:
            return f"{where}.age_at_least", "say from which age the criterion is met"
        if c.id == "child" and c.age_below is None:
            return f"{where}.age_below", "say below which age the criterion is met"
    if not p.bands:
        return "bands", "at least one band"
    for i, b in enumerate(p.bands):
        if i and b.min_score >= p.bands[i - 1].min_score:
            return f"bands[{i}].min_score", "bands go from the highest min_score down"
        if not 1 <= b.target_days <= 365:
            return f"bands[{i}].target_days", "a target delay is between 1 and 365 days"
    if p.bands[-1].min_score != 0:
        return f"bands[{len(p.bands) - 1}].min_score", "the last band starts at 0"
    if not 1 <= p.timers.contact_working_days <= 30:
        return "timers.contact_working_days", "between 1 and 30 working days"
    if not 1 <= p.timers.declaration_check_days <= 365:
        return "timers.declaration_check_days", "between 1 and 365 days"
    for i, w in enumerate(p.unscheduled):
        if w.within_hours not in (24, 48):
            return f"unscheduled[{i}].within_hours", "unscheduled care is within 24 or 48 hours"
        if not 0 < w.escalate_before_hours < w.within_hours:
            return f"unscheduled[{i}].escalate_before_hours", "between 0 and within_hours"
    return None


def parse_access_policy(text: str, file: str = "<string>") -> AccessPolicy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(file, "", f"not valid TOML: {exc}") from exc
    try:
        policy = msgspec.convert(raw, AccessPolicy)
    except msgspec.ValidationError as exc:
        reason, _, where = str(exc).partition(" - at `")
        raise ProtocolError(file, where.rstrip("`").removeprefix("$."), reason) from exc
    if (problem := _first_problem(policy)) is not None:
        raise ProtocolError(file, *problem)
    return policy


def load_access_policy(path: Path) -> AccessPolicy:
    return parse_access_policy(path.read_text(encoding="utf-8"), path.name)
