"""Loading protocol files and holding every version: ``ProtocolCatalog``.

A bad file raises ``ProtocolError`` naming the file, the path inside it
(``activities[2].window.due_days``) and the reason, so that the service stops
at start-up with a sentence a person can act on.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import msgspec

from contracts.facts import FACT_TYPES
from contracts.roles import Role
from pathways.domain.protocol import (
    AboveTargetRule,
    ActivityWithin,
    DischargeAnchor,
    FactWithin,
    LabPanel,
    Protocol,
    Window,
)

_TASK_ROLES = frozenset(r.value for r in Role)
_LOINC = re.compile(r"^[0-9]{1,7}-[0-9]$")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


class ProtocolError(Exception):
    """A protocol file that cannot be used: where (file, path inside it) and why."""

    def __init__(self, file: str, path: str, reason: str) -> None:
        self.file, self.path, self.reason = file, path, reason
        super().__init__(f"{file}: {path or '(top level)'}: {reason}")


class UnknownProtocolError(LookupError):
    def __init__(self, protocol: str, version: int | None = None) -> None:
        self.protocol, self.version = protocol, version
        which = protocol if version is None else f"{protocol} version {version}"
        super().__init__(f"no protocol {which} in the catalog")


def parse_protocol(text: str, file: str = "<string>") -> Protocol:
    """Parse and validate one protocol file's TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(file, "", f"not valid TOML: {exc}") from exc
    try:
        protocol = msgspec.convert(raw, Protocol)
    except msgspec.ValidationError as exc:
        reason, _, where = str(exc).partition(" - at `")
        path = where.rstrip("`").removeprefix("$").removeprefix(".")
        raise ProtocolError(file, path, reason) from exc
    problem = _first_problem(protocol)
    if problem:
        raise ProtocolError(file, *problem)
    return protocol


def load_file(path: Path) -> Protocol:
    return parse_protocol(path.read_text(encoding="utf-8"), str(path))


def _first_problem(p: Protocol) -> tuple[str, str] | None:
    return next(iter(_problems(p)), None)


def _problems(p: Protocol) -> Iterable[tuple[str, str]]:
    """Cross-references and consistency that a schema cannot say: (path, reason)."""
    ids = [a.id for a in p.activities]
    for i, dup in enumerate(ids):
        if ids.index(dup) != i:
            yield f"activities[{i}].id", f"activity id {dup!r} is used twice"
    known = set(ids)
    relative_ok = {"anchor", "rule", *FACT_TYPES}
    rule_activities = {r.activity for r in p.rules}
    for i, a in enumerate(p.activities):
        at = f"activities[{i}]"
        for j, role in enumerate([a.role, *a.alternate_roles]):
            if role not in _TASK_ROLES:
                where = f"{at}.role" if j == 0 else f"{at}.alternate_roles[{j - 1}]"
                yield where, f"unknown role {role!r} (roles: {', '.join(sorted(_TASK_ROLES))})"
        if a.window.relative_to not in relative_ok:
            yield (
                f"{at}.window.relative_to",
                f"{a.window.relative_to!r} is not 'anchor', 'rule' or a fact type",
            )
        if (a.window.relative_to == "rule") != (a.id in rule_activities):
            yield (
                f"{at}.window.relative_to",
                "an activity is relative to 'rule' exactly when a rule raises it",
            )
        yield from ((f"{at}.window.{w}", r) for w, r in _window_problems(a.window, a.recurrence))
        if a.recurrence is not None:
            r = a.recurrence
            if r.count is None and r.horizon_days is None:
                yield f"{at}.recurrence", "a recurrence needs a count or a horizon_days"
            if r.per_period < 1 or r.per_period > r.period_days:
                yield f"{at}.recurrence.per_period", "per_period must be between 1 and period_days"
            if r.until_fact is not None and r.until_fact not in FACT_TYPES:
                yield f"{at}.recurrence.until_fact", f"unknown fact type {r.until_fact!r}"
        for j, c in enumerate(a.completed_by):
            if isinstance(c, LabPanel):
                if not c.all_of and not c.any_of:
                    yield f"{at}.completed_by[{j}]", "a lab panel needs all_of or any_of codes"
                for code in (*c.all_of, *c.any_of):
                    if not _LOINC.match(code):
                        yield f"{at}.completed_by[{j}]", f"{code!r} is not a LOINC code"
    for i, rule in enumerate(p.rules):
        if rule.activity not in known:
            yield f"rules[{i}].activity", f"unknown activity {rule.activity!r}"
        if isinstance(rule, AboveTargetRule) and rule.after_activity not in known:
            yield f"rules[{i}].after_activity", f"unknown activity {rule.after_activity!r}"
    for i, spec in enumerate(p.anchor.facts):
        if isinstance(spec, DischargeAnchor) and spec.without_diagnosis == bool(
            spec.diagnosis_prefixes
        ):
            yield (
                f"anchor.facts[{i}]",
                "a discharge anchor names diagnosis_prefixes, or is without_diagnosis",
            )
    for name in ("close_on", "pause_on"):
        for j, fact in enumerate(getattr(p.lifecycle, name)):
            if fact not in FACT_TYPES:
                yield f"lifecycle.{name}[{j}]", f"unknown fact type {fact!r}"
    if p.escalation.to_role not in _TASK_ROLES:
        yield "escalation.to_role", f"unknown role {p.escalation.to_role!r}"
    codes: set[str] = set()
    for i, ind in enumerate(p.indicators):
        at = f"indicators[{i}]"
        if ind.code in codes:
            yield f"{at}.code", f"indicator code {ind.code!r} is used twice"
        codes.add(ind.code)
        activity = getattr(ind, "activity", None)
        if activity is not None and activity not in known:
            yield f"{at}.activity", f"unknown activity {activity!r}"
        for j, fact in enumerate(ind.exclude_on):
            if fact not in FACT_TYPES:
                yield f"{at}.exclude_on[{j}]", f"unknown fact type {fact!r}"
        if isinstance(ind, FactWithin) and ind.fact not in FACT_TYPES:
            yield f"{at}.fact", f"unknown fact type {ind.fact!r}"
        if isinstance(ind, ActivityWithin | FactWithin) and ind.from_days >= ind.to_days:
            yield f"{at}.to_days", "to_days must be greater than from_days"


def _window_problems(w: Window, recurring: object) -> Iterable[tuple[str, str]]:
    dues = [n for n in ("due_days", "due_hours", "season") if getattr(w, n) is not None]
    if recurring is not None:
        if dues:
            yield dues[0], "a recurring activity takes its due dates from the recurrence"
        if w.earliest_days is None:
            yield (
                "earliest_days",
                "a recurring activity needs earliest_days (start of its first period)",
            )
        return
    if len(dues) != 1:
        yield "due_days", "give exactly one of due_days, due_hours, season"
        return
    if w.season is not None:
        for part in ("start", "end"):
            if not _MONTH_DAY.match(getattr(w.season, part)):
                yield f"season.{part}", "a season bound is written MM-DD"
    if w.due_days is not None and w.due_days < (w.earliest_days or 0):
        yield "due_days", f"due_days ({w.due_days}) is before earliest_days ({w.earliest_days})"
    if w.due_hours is not None and w.due_hours < (w.earliest_hours or 0):
        yield (
            "due_hours",
            f"due_hours ({w.due_hours}) is before earliest_hours ({w.earliest_hours})",
        )


class ProtocolCatalog:
    """Every protocol version known to the service; new enrolments take the latest."""

    def __init__(self, protocols: Iterable[Protocol] = ()) -> None:
        self._by_key: dict[tuple[str, int], Protocol] = {}
        for p in protocols:
            self.add(p)

    def add(self, protocol: Protocol, file: str = "<catalog>") -> None:
        key = (protocol.id, protocol.version)
        if key in self._by_key:
            raise ProtocolError(file, "version", f"{protocol.key} is defined twice")
        self._by_key[key] = protocol

    @classmethod
    def load_dir(cls, path: Path | str) -> ProtocolCatalog:
        catalog = cls()
        for file in sorted(Path(path).glob("*.toml")):
            catalog.add(load_file(file), str(file))
        return catalog

    def get(self, protocol_id: str, version: int | str) -> Protocol:
        try:
            return self._by_key[(protocol_id, int(version))]
        except (KeyError, ValueError):
            raise UnknownProtocolError(
                protocol_id, int(version) if str(version).isdigit() else None
            ) from None

    def latest(self, protocol_id: str, include_drafts: bool = False) -> Protocol:
        """The newest active version (new enrolments take it), or the newest of all."""
        versions = [
            v
            for (pid, v), p in self._by_key.items()
            if pid == protocol_id and (include_drafts or p.status == "active")
        ]
        if not versions:
            raise UnknownProtocolError(protocol_id)
        return self._by_key[(protocol_id, max(versions))]

    def ids(self) -> list[str]:
        return sorted({pid for pid, _ in self._by_key})

    def latest_all(self) -> list[Protocol]:
        """The newest active version of each protocol that has one."""
        out = []
        for pid in self.ids():
            try:
                out.append(self.latest(pid))
            except UnknownProtocolError:
                pass
        return out

    def all(self) -> list[Protocol]:
        return [self._by_key[k] for k in sorted(self._by_key)]
