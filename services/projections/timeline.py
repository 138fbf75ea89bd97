"""The patient timeline read model: pure row building, and its writer."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg
import msgspec

from contracts.events import Envelope
from parcours.copying import copy_or_insert
from projections.domain.patients import patient_of

_json = msgspec.json.Encoder()

# (French, English) labels; {placeholders} are payload fields
LABELS: dict[str, tuple[str, str]] = {
    "AdmissionReported": ("Hospitalisation", "Hospital admission"),
    "DischargeReported": ("Sortie d'hospitalisation", "Hospital discharge"),
    "DischargeCancelled": ("Sortie annulée par l'hôpital", "Discharge cancelled by the hospital"),
    "ReadmissionReported": ("Réhospitalisation", "Readmission"),
    "DeathReported": ("Décès", "Death"),
    "LabResultReported": ("Résultat de biologie {loinc}", "Lab result {loinc}"),
    "ConsultationReported": ("Consultation ({role})", "Consultation ({role})"),
    "NursingVisitReported": ("Visite infirmière", "Nursing visit"),
    "DeliveryReported": ("Accouchement", "Delivery"),
    "DispensingReported": ("Délivrance en pharmacie {atc}", "Dispensing {atc}"),
    "VaccinationReported": ("Vaccination ({vaccine})", "Vaccination ({vaccine})"),
    "RehabilitationStarted": ("Début de réhabilitation", "Rehabilitation started"),
    "DiagnosisReported": ("Diagnostic {code}", "Diagnosis {code}"),
    "GlucoseToleranceTestReported": ("HGPO 75 g", "75 g OGTT"),
    "SelfMonitoringReported": ("Autosurveillance glycémique", "Glucose self-monitoring"),
    "PatientEnrolled": ("Inclusion dans le parcours {protocol}", "Enrolled in {protocol}"),
    "TaskScheduled": (
        "Tâche planifiée : {activity} ({role})",
        "Task scheduled: {activity} ({role})",
    ),
    "TaskAccepted": ("Tâche acceptée", "Task accepted"),
    "TaskStarted": ("Tâche commencée", "Task started"),
    "TaskCompleted": ("Tâche réalisée", "Task completed"),
    "TaskRejected": ("Tâche refusée", "Task rejected"),
    "TaskReassigned": ("Tâche réattribuée", "Task reassigned"),
    "TaskCancelled": ("Tâche annulée", "Task cancelled"),
    "TaskFailed": ("Tâche en échec", "Task failed"),
    "TaskOverdue": ("Tâche en retard", "Task overdue"),
    "EscalationRaised": ("Alerte au coordinateur", "Escalated to the coordinator"),
    "ReminderDue": ("Rappel", "Reminder"),
    "EnrolmentPaused": ("Parcours suspendu", "Pathway paused"),
    "EnrolmentResumed": ("Parcours repris", "Pathway resumed"),
    "EnrolmentClosed": ("Parcours clôturé ({reason})", "Pathway closed ({reason})"),
    "ProtocolVersionChanged": ("Changement de version du protocole", "Protocol version changed"),
    "TaskNotified": ("Notification reçue", "Notification delivered"),
    "TaskSeen": ("Tâche consultée", "Task seen"),
    "GPDeclared": ("Déclaration du médecin traitant", "Médecin traitant declared"),
    "SharingOpposed": ("Opposition au partage", "Opposition to sharing"),
    "CareCircleChanged": ("Cercle de soins : {change} ({role})", "Care circle: {change} ({role})"),
    "BreakGlassGranted": ("Accès d'urgence accordé ({role})", "Break-the-glass access ({role})"),
    "GPAccessRequested": (
        "Demande de médecin traitant ({priority})",
        "GP-access request ({priority})",
    ),
    "GPAccessPatientContacted": ("Patient contacté par la CPTS", "Patient contacted by the CPTS"),
    "GPAccessTaken": ("Demande prise par un médecin", "Request taken by a GP"),
    "GPAccessDeclined": ("Demande rendue par le médecin", "Request given back by the GP"),
    "GPAccessEscalated": ("Alerte au coordinateur ({reason})", "Escalated ({reason})"),
    "GPAccessClosed": ("Demande close ({outcome})", "Request closed ({outcome})"),
    "UnscheduledCareRequested": (
        "Demande de soins non programmés ({within_hours} h)",
        "Unscheduled-care request ({within_hours} h)",
    ),
    "UnscheduledCareAccepted": ("Soins non programmés acceptés", "Unscheduled care accepted"),
    "UnscheduledCareEscalated": ("Soins non programmés : alerte", "Unscheduled care escalated"),
    "UnscheduledCareClosed": ("Soins non programmés ({outcome})", "Unscheduled care ({outcome})"),
}


class TimelineRow(msgspec.Struct, frozen=True):
    event_id: uuid.UUID
    cpts: str
    patient_id: uuid.UUID
    version: int
    type: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    label_fr: str
    label_en: str
    data: str


def _label(template: str, fields: dict) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError):
        return template.split(" {")[0]


def timeline_row(envelope: Envelope) -> TimelineRow | None:
    """The timeline line of an event, or None when it is not about a patient."""
    patient_id = patient_of(envelope.stream)
    if patient_id is None:
        return None
    fr, en = LABELS.get(envelope.type, (envelope.type, envelope.type))
    if "{" in fr or "{" in en:
        fields = msgspec.structs.asdict(envelope.data)
        fr, en = _label(fr, fields), _label(en, fields)
    return TimelineRow(
        event_id=envelope.event_id,
        cpts=envelope.cpts,
        patient_id=patient_id,
        version=envelope.version,
        type=envelope.type,
        occurred_at=envelope.occurred_at,
        recorded_at=envelope.recorded_at,
        label_fr=fr,
        label_en=en,
        data=_json.encode(envelope.data).decode(),
    )


_COLUMNS = ("event_id", "cpts", "patient_id", "version", "type", "occurred_at", "recorded_at",
            "label_fr", "label_en", "data")  # fmt: skip


async def insert_timeline_rows(
    conn: asyncpg.Connection, rows: Sequence[TimelineRow], table: str = "timeline"
) -> None:
    """Write timeline rows into ``table`` (the live table, or a rebuild's shadow copy): by
    COPY (about twice the rows/s of the ``unnest`` INSERT, ``parcours bench projections``),
    by the INSERT when a replayed event's line is already there."""
    await copy_or_insert(
        conn, table, _COLUMNS, [msgspec.structs.astuple(r) for r in rows],
        f"""INSERT INTO {table} ({", ".join(_COLUMNS)})
            SELECT e, c, p, v, t, o, r, lf, le, d::jsonb
            FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::text[],
                        $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[], $10::text[])
                 AS u(e, c, p, v, t, o, r, lf, le, d)
            ON CONFLICT (event_id, cpts) DO NOTHING""",
    )  # fmt: skip
