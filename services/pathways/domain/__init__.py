"""The pure core of the pathways service: protocols as data and the decider.

No IO here (no asyncpg, nats, litestar, structlog), no wall clock, no random
ids: time and ids come in through ``DecideContext``.

- ``protocol`` / ``catalog``: the protocol model, ``ProtocolCatalog.load_dir``,
  ``ProtocolError`` (file, path inside it, reason).
- ``engine.decide(command, state, ctx) -> Decided(events, state)`` (the one way to
  decide: a recorded fact comes back first, followed by what it causes) and
  ``state.evolve(state, event, event_id=None) -> PatientState`` (per patient stream).
- ``commands``: ``RecordFact``, ``EnrolPatient``, task commands, ``FireTimer``,
  ``MigrateProtocol``, ``TakeOverTasks``/``HandOverTasks`` (an identity merge,
  planned by ``merging.plan_merge``), and ``DecideContext``.
- ``timers``: ``Timer``, ``timers_for(event)``, ``timers_cancelled_by(event)``.
- ``errors``: what the HTTP layer maps to 403, 404, 409.
"""

from pathways.domain.access_commands import (
    AcceptUnscheduledCare,
    CloseGPRequest,
    CloseUnscheduledCare,
    DeclineGPRequest,
    RecordPatientContact,
    RequestGPAccess,
    RequestUnscheduledCare,
    TakeGPRequest,
)
from pathways.domain.access_policy import AccessPolicy, load_access_policy, parse_access_policy
from pathways.domain.catalog import ProtocolCatalog, ProtocolError, UnknownProtocolError
from pathways.domain.commands import (
    AcceptTask,
    BreakTheGlass,
    CancelTask,
    ChangeCareCircle,
    CompleteTask,
    DecideContext,
    EnrolPatient,
    FailTask,
    FireTimer,
    HandOverTasks,
    MigrateProtocol,
    MovedTask,
    ReassignTask,
    RecordFact,
    RejectTask,
    StartTask,
    SyncCareCircle,
    TakeOverTasks,
)
from pathways.domain.decision import Decided, DecidedEvent
from pathways.domain.engine import decide
from pathways.domain.errors import (
    DomainError,
    EnrolmentConflictError,
    IllegalTransitionError,
    NotAllowedError,
    RequestStateError,
    UnknownEnrolmentError,
    UnknownRequestError,
    UnknownTaskError,
)
from pathways.domain.state import PatientState, evolve, fold
from pathways.domain.timers import Timer, timers_cancelled_by, timers_for

__all__ = [
    "AcceptUnscheduledCare",
    "AccessPolicy",
    "CloseGPRequest",
    "CloseUnscheduledCare",
    "DeclineGPRequest",
    "RecordPatientContact",
    "RequestGPAccess",
    "RequestStateError",
    "RequestUnscheduledCare",
    "TakeGPRequest",
    "UnknownRequestError",
    "load_access_policy",
    "parse_access_policy",
    "AcceptTask",
    "BreakTheGlass",
    "ChangeCareCircle",
    "CancelTask",
    "CompleteTask",
    "DecideContext",
    "Decided",
    "DecidedEvent",
    "DomainError",
    "EnrolPatient",
    "EnrolmentConflictError",
    "FailTask",
    "FireTimer",
    "HandOverTasks",
    "IllegalTransitionError",
    "MigrateProtocol",
    "MovedTask",
    "NotAllowedError",
    "PatientState",
    "ProtocolCatalog",
    "ProtocolError",
    "ReassignTask",
    "RecordFact",
    "RejectTask",
    "StartTask",
    "SyncCareCircle",
    "TakeOverTasks",
    "Timer",
    "UnknownEnrolmentError",
    "UnknownProtocolError",
    "UnknownTaskError",
    "decide",
    "evolve",
    "fold",
    "timers_cancelled_by",
    "timers_for",
]
