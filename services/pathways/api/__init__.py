"""The HTTP handlers of the pathways service. Each receives the service's
``PathwaysRuntime`` as ``runtime`` (dependency injection) and writes through its
``PatientStreams``."""

from __future__ import annotations

from pathways.api.access import declare_capacity, gp_access_command, request_gp_access
from pathways.api.admin import advance_clock, read_clock
from pathways.api.batch import batch_route
from pathways.api.enrolments import enrol, get_enrolment, get_protocol, list_protocols
from pathways.api.erasure import erase_identity
from pathways.api.facts import post_fact
from pathways.api.patient_access import break_glass, change_care_circle
from pathways.api.patient_export import export_patient
from pathways.api.patient_identity import read_identity
from pathways.api.snp import declare_slots, request_unscheduled_care, snp_command
from pathways.api.tasks import task_command

ROUTES = [
    post_fact,
    erase_identity,
    read_identity,
    change_care_circle,
    break_glass,
    export_patient,
    enrol,
    get_enrolment,
    list_protocols,
    get_protocol,
    task_command,
    read_clock,
    advance_clock,
    request_gp_access,
    gp_access_command,
    declare_capacity,
    declare_slots,
    request_unscheduled_care,
    snp_command,
]

__all__ = ["ROUTES", "batch_route"]
