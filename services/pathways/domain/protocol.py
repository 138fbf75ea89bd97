"""The protocol model: a versioned care pathway described as data.

A protocol file (TOML, one per version, under ``services/pathways/protocols``)
is converted into these Structs with ``forbid_unknown_fields``: a typo in a
file is an error, never a silently ignored setting.

Vocabulary of a file:

- ``[anchor]``: which facts enrol a patient (``[[anchor.facts]]``, tagged by
  ``fact``) and whether a coordinator may enrol explicitly.
- ``[[activities]]``: what the protocol asks, with a ``role``, a ``window``
  (days are calendar days in Europe/Paris counted from the reference date D0:
  ``earliest_days = 1, due_days = 7`` means D0 < date <= D0+7; hours are exact
  offsets from the reference instant), an optional ``recurrence`` and the facts
  that complete it (``[[activities.completed_by]]``, any one of them).
- ``[[rules]]``: observation rules that raise a task (tagged by ``kind``).
- ``[escalation]`` and ``[lifecycle]``: what happens when a task passes its
  due time, and which facts close, pause or resume an enrolment.
- ``[[indicators]]``: quality measures the projections compute generically
  (tagged by ``kind``; see the indicator classes below).
"""

from __future__ import annotations

from typing import Literal

import msgspec


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every protocol-file Struct: unknown fields are errors."""


class Titles(_Spec, kw_only=True):
    fr: str
    en: str


class Source(_Spec, kw_only=True):
    id: str
    citation: str
    url: str | None = None
    used_for: str | None = None


class Metadata(_Spec, kw_only=True):
    sources: list[Source]
    choices: list[str] = []  # where sources disagree: which figure this file uses and why
    notes: list[str] = []


# --- anchors ---------------------------------------------------------------------------------


class DischargeAnchor(_Spec, kw_only=True, tag_field="fact", tag="DischargeReported"):
    """A discharge whose (main) diagnosis starts with one of the ICD-10 prefixes, or,
    with ``without_diagnosis``, a discharge that names no diagnosis at all."""

    diagnosis_prefixes: list[str] = []
    position: Literal["main", "any"] = "main"  # main = the first diagnosis of the stay
    destinations: list[str] = msgspec.field(default_factory=lambda: ["home"])
    without_diagnosis: bool = False


class DiagnosisAnchor(_Spec, kw_only=True, tag_field="fact", tag="DiagnosisReported"):
    code_prefixes: list[str]


class GlucoseToleranceAnchor(
    _Spec, kw_only=True, tag_field="fact", tag="GlucoseToleranceTestReported"
):
    """An OGTT (or a first-trimester fasting glucose alone) judged by thresholds in g/L.

    Any value at or above its threshold enrols, unless the fasting value reaches
    ``overt_fasting_at_least`` (overt diabetes: a different pathway).
    """

    fasting_at_least: float
    one_hour_at_least: float
    two_hour_at_least: float
    overt_fasting_at_least: float


AnchorFact = DischargeAnchor | DiagnosisAnchor | GlucoseToleranceAnchor


class Anchor(_Spec, kw_only=True):
    facts: list[AnchorFact]
    coordinator_enrolment: bool = True


# --- windows and recurrences -----------------------------------------------------------------


class Season(_Spec, kw_only=True):
    """A yearly window, e.g. ``start = "10-15"``, ``end = "01-31"`` (may span new year)."""

    start: str
    end: str


class Window(_Spec, kw_only=True):
    """When a task may be done (earliest) and must be done (due).

    ``relative_to``: ``"anchor"``, ``"rule"`` (the observation that raised it) or a
    fact type (e.g. ``"DeliveryReported"``: scheduled when that fact arrives).
    Exactly one of ``due_days``, ``due_hours``, ``season`` (or a ``recurrence``).
    """

    relative_to: str = "anchor"
    earliest_days: int | None = None
    due_days: int | None = None
    earliest_hours: int | None = None
    due_hours: int | None = None
    season: Season | None = None


class Recurrence(_Spec, kw_only=True):
    """Occurrence n (from 0) lies in period n // per_period, slot n % per_period.

    Each period of ``period_days`` starts at ``window.earliest_days`` and is split
    into ``per_period`` slots of whole days (twice a week: days 1-3 and 4-7).
    Scheduled eagerly: ``count`` occurrences, or those starting within
    ``horizon_days`` (and before the expected delivery when
    ``until_expected_delivery``); ``until_fact`` cancels the open occurrences
    starting after that fact.
    """

    period_days: int
    per_period: int = 1
    count: int | None = None
    horizon_days: int | None = None
    until_fact: str | None = None
    until_expected_delivery: bool = False


# --- what completes an activity (any one of the list) ----------------------------------------


class ConsultationBy(_Spec, kw_only=True, tag_field="fact", tag="ConsultationReported"):
    """A consultation whose role (or specialty) is one of ``roles``."""

    roles: list[str]


class LabPanel(_Spec, kw_only=True, tag_field="fact", tag="LabResultReported"):
    """Complete when every ``all_of`` code has a result and, if given, one ``any_of`` code."""

    all_of: list[str] = []
    any_of: list[str] = []


class NursingVisit(_Spec, kw_only=True, tag_field="fact", tag="NursingVisitReported"):
    education_required: bool = False


class Dispensing(_Spec, kw_only=True, tag_field="fact", tag="DispensingReported"):
    atc_prefixes: list[str]
    atc_excluded: list[str] = []


class Vaccination(_Spec, kw_only=True, tag_field="fact", tag="VaccinationReported"):
    vaccines: list[str]


class Rehabilitation(_Spec, kw_only=True, tag_field="fact", tag="RehabilitationStarted"):
    kinds: list[str] = []  # empty: any kind


class GlucoseTest(_Spec, kw_only=True, tag_field="fact", tag="GlucoseToleranceTestReported"):
    pass


Completion = (
    ConsultationBy
    | LabPanel
    | NursingVisit
    | Dispensing
    | Vaccination
    | Rehabilitation
    | GlucoseTest
)


class Activity(_Spec, kw_only=True):
    id: str
    title: Titles
    role: str
    alternate_roles: list[str] = []  # occurrence n goes to ([role] + alternate_roles)[n % k]
    window: Window
    recurrence: Recurrence | None = None
    completed_by: list[Completion] = []
    early_completes: bool = True  # a fact between the reference and ``earliest`` completes it
    urgent: bool = False


# --- observation rules -----------------------------------------------------------------------


class WeightGainRule(_Spec, kw_only=True, tag_field="kind", tag="weight_gain"):
    """A nursing visit whose weight exceeds the lowest weight of the previous
    ``within_days`` days by more than ``gain_kg_above`` raises ``activity``."""

    id: str
    activity: str
    gain_kg_above: float
    within_days: float


class AboveTargetRule(_Spec, kw_only=True, tag_field="kind", tag="self_monitoring_above_target"):
    """Self-monitoring after ``after_activity`` was completed: once the reports cover
    at least ``min_days_after`` days after it and the share of readings above target
    is at least ``above_share_at_least``, raise ``activity`` (once per enrolment)."""

    id: str
    activity: str
    after_activity: str
    min_days_after: int
    above_share_at_least: float


Rule = WeightGainRule | AboveTargetRule


class Escalation(_Spec, kw_only=True):
    on_overdue: bool = True  # TaskOverdue and an EscalationRaised for the coordinator at due
    to_role: str = "coordinator"


class Lifecycle(_Spec, kw_only=True):
    """Stop and pause conditions.

    ``close_on`` facts close every open enrolment (open tasks cancelled).
    ``pause_on`` facts pause it: open tasks are cancelled (reason ``paused``); a
    later discharge to one of ``resume_destinations`` that does not itself match
    the anchor resumes it and re-plans the paused tasks shifted by the time spent
    paused; a discharge that matches the anchor re-enrols (``reenrol_on_new_anchor``:
    the old enrolment closes as ``transferred``).
    """

    duration_days: int  # the enrolment ends (completed) this many days after the anchor
    close_on: list[str] = msgspec.field(default_factory=lambda: ["DeathReported"])
    pause_on: list[str] = []
    resume_destinations: list[str] = msgspec.field(default_factory=lambda: ["home"])
    reenrol_on_new_anchor: bool = False
    # the enrolment is a question for the coordinator (classify a discharge): when the
    # coordinator enrols the patient in another protocol, its open tasks complete and it
    # closes (completed)
    answered_by_enrolment: bool = False


# --- indicators ------------------------------------------------------------------------------


class _Indicator(_Spec, kw_only=True, tag_field="kind"):
    code: str
    title: Titles
    derived: bool = True  # derived from the protocol windows, not an official definition
    exclude_on: list[
        str
    ] = []  # facts that take a case out when they occur before the window closes
    exclude_keeps_met: bool = True  # a case already in the numerator when excluded stays in
    description: str | None = None


class ActivityWithin(_Indicator, kw_only=True, tag="activity_within"):
    """Numerator: the activity's first occurrence completed by a fact (or a professional)
    on a date d with R+from_days < d <= R+to_days (R = ``relative_to`` date).
    Denominator: enrolments whose anchor falls in the period (and, for a fact-relative
    window, which have that fact), minus exclusions."""

    activity: str
    relative_to: str = "anchor"
    from_days: int = 0
    to_days: int


class ActivityDone(_Indicator, kw_only=True, tag="activity_done"):
    """Numerator: the activity's first occurrence completed (within its own task window
    when ``on_time_only``: ``TaskCompleted.on_time``). Denominator as ``activity_within``.
    For windows that are not a day count from a date (a vaccination season)."""

    activity: str
    on_time_only: bool = True


class OccurrenceShare(_Indicator, kw_only=True, tag="occurrence_share"):
    """Completed occurrences / planned occurrences of a recurring activity. Missed stays
    missed (PROTOCOLS.md § 0): an occurrence leaves the plan only when a migration re-plans
    it or the fact ending the recurrence stops it, or, not performed, when an
    ``exclude_on`` fact comes on or before the day its window closes; closing the
    pathway, a pause or a cancellation by a person leave it missed."""

    activity: str
    on_time_only: bool = False


class PatientsWithShare(_Indicator, kw_only=True, tag="patients_with_share"):
    """Share of enrolments whose occurrence share reaches ``min_share``."""

    activity: str
    min_share: float
    on_time_only: bool = False


class FactWithin(_Indicator, kw_only=True, tag="fact_within"):
    """Share of enrolments with ``fact`` on a date d with D0+from_days < d <= D0+to_days."""

    fact: str
    from_days: int = 0
    to_days: int


class CountEnrolled(_Indicator, kw_only=True, tag="count_enrolled"):
    """Number of enrolments whose anchor falls in the period (no ratio)."""


Indicator = (
    ActivityWithin | ActivityDone | OccurrenceShare | PatientsWithShare | FactWithin | CountEnrolled
)


class Protocol(_Spec, kw_only=True):
    """One version of a protocol. A ``draft`` version is loaded and validated and can be
    migrated to explicitly, but new enrolments take the newest ``active`` version."""

    id: str
    version: int
    title: Titles
    status: Literal["active", "draft"] = "active"
    metadata: Metadata
    anchor: Anchor
    activities: list[Activity]
    lifecycle: Lifecycle
    rules: list[Rule] = []
    escalation: Escalation = Escalation()
    indicators: list[Indicator] = []

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    def activity(self, activity_id: str) -> Activity:
        for activity in self.activities:
            if activity.id == activity_id:
                return activity
        raise KeyError(activity_id)
