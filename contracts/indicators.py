"""Indicator definitions, as the protocol files declare them, for the services that read them.

The protocol files (``services/pathways/protocols/*.toml``) are data shared by
the pathways service, which validates them strictly, and the projections
service, which computes their ``[[indicators]]`` generically. This module
mirrors only what a reader of indicators needs: the protocol's id, version and
titles, and its indicator tables tagged by ``kind``. It is lenient (unknown
fields are ignored, an unknown ``kind`` is skipped), so a newer protocol file
never stops a reader; the pathways loader is the strict gate.

Kinds (see ``pathways.domain.protocol`` for the authoritative wording):

- ``activity_within``: the activity's first occurrence completed on a date d with
  R+from_days < d <= R+to_days (R: the anchor, or the first fact of type
  ``relative_to`` after it); denominator: enrolments anchored in the period (with
  that fact, when relative to one) minus exclusions.
- ``activity_done``: the activity's first occurrence completed (on time, by its own
  task window, when ``on_time_only``): for windows that are no day count (a season).
- ``occurrence_share``: completed / planned occurrences of a recurring activity; an
  occurrence planned and never performed stays missed after the pathway closes, and
  leaves the count only when a migration re-plans it, the fact ending its recurrence
  stops it, or an ``exclude_on`` fact comes before its own window closes (PROTOCOLS.md § 0).
- ``patients_with_share``: share of enrolments whose occurrence share >= ``min_share``
  (the patient is the unit: the window is the whole plan).
- ``fact_within``: share of enrolments with ``fact`` in D0+from_days < d <= D0+to_days.
- ``count_enrolled``: number of enrolments anchored in the period.

``exclude_on`` facts take a case out when they occur after the anchor and on or
before the day its window closes; ``exclude_keeps_met`` keeps a case already
met at that moment in the numerator. PROTOCOLS.md § 0 asks for death and any
admission on every indicator; a protocol records any deviation in its choices.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import msgspec

KINDS = (
    "activity_within",
    "activity_done",
    "occurrence_share",
    "patients_with_share",
    "fact_within",
    "count_enrolled",
)


class Titles(msgspec.Struct, frozen=True, kw_only=True):
    fr: str
    en: str


class _Indicator(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    code: str
    title: Titles
    derived: bool = True
    exclude_on: list[str] = []
    exclude_keeps_met: bool = True
    description: str | None = None


class ActivityWithin(_Indicator, frozen=True, kw_only=True, tag="activity_within"):
    activity: str
    relative_to: str = "anchor"
    from_days: int = 0
    to_days: int


class ActivityDone(_Indicator, frozen=True, kw_only=True, tag="activity_done"):
    activity: str
    on_time_only: bool = True


class OccurrenceShare(_Indicator, frozen=True, kw_only=True, tag="occurrence_share"):
    activity: str
    on_time_only: bool = False


class PatientsWithShare(_Indicator, frozen=True, kw_only=True, tag="patients_with_share"):
    activity: str
    min_share: float
    on_time_only: bool = False


class FactWithin(_Indicator, frozen=True, kw_only=True, tag="fact_within"):
    fact: str
    from_days: int = 0
    to_days: int


class CountEnrolled(_Indicator, frozen=True, kw_only=True, tag="count_enrolled"):
    pass


IndicatorDef = (
    ActivityWithin | ActivityDone | OccurrenceShare | PatientsWithShare | FactWithin | CountEnrolled
)


class ProtocolIndicators(msgspec.Struct, frozen=True, kw_only=True):
    """The indicator side of one protocol version."""

    id: str
    version: str
    title: Titles
    status: str = "active"  # or "draft": loaded, but new enrolments take the newest active
    indicators: list[IndicatorDef] = []
    skipped: list[str] = []  # codes (or positions) of indicator tables of an unknown kind

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


class IndicatorFileError(ValueError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def parse_protocol(document: dict, path: Path | None = None) -> ProtocolIndicators:
    """The indicator side of one parsed protocol document (a TOML table)."""
    where = path or Path("<protocol>")
    try:
        title = msgspec.convert(document.get("title"), Titles)
        ident = str(document["id"])
        version = str(document["version"])
    except (KeyError, msgspec.ValidationError) as exc:
        raise IndicatorFileError(
            where, f"id, version and title {{fr, en}} are needed: {exc}"
        ) from None
    indicators: list[IndicatorDef] = []
    skipped: list[str] = []
    for n, table in enumerate(document.get("indicators", [])):
        if table.get("kind") not in KINDS:
            skipped.append(str(table.get("code", n)))
            continue
        try:
            indicators.append(msgspec.convert(table, IndicatorDef))
        except msgspec.ValidationError as exc:
            raise IndicatorFileError(where, f"indicators[{n}]: {exc}") from None
    return ProtocolIndicators(
        id=ident,
        version=version,
        title=title,
        status=str(document.get("status", "active")),
        indicators=indicators,
        skipped=skipped,
    )


def default_protocols_dir() -> Path | None:
    """The ``protocols`` folder beside the ``pathways`` package, found without importing it."""
    spec = importlib.util.find_spec("pathways")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "protocols"


def load_protocol_indicators(directory: str | Path | None = None) -> list[ProtocolIndicators]:
    """Every protocol file (``*.toml``) of ``directory`` (default: the pathways' protocols)."""
    folder = Path(directory) if directory else default_protocols_dir()
    if folder is None or not folder.is_dir():
        return []
    out: list[ProtocolIndicators] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise IndicatorFileError(path, f"not valid TOML: {exc}") from None
        out.append(parse_protocol(document, path))
    return out
