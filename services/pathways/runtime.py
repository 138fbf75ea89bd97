"""The pathways service's live collaborators, built once by its composition root.

``app.create_app`` builds a ``PathwaysRuntime`` when the connections are open and
hands it to the HTTP handlers through Litestar's dependency injection (a
``runtime: PathwaysRuntime`` parameter); the background workers get it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parcours.service import Resources
from pathways.domain import AccessPolicy, ProtocolCatalog, load_access_policy
from pathways.group_commit import GroupCommit
from pathways.scheduler import Scheduler
from pathways.streams import PatientStreams

ACCESS_POLICY_FILE = Path(__file__).parent / "policies" / "gp-access-priority.v1.toml"


def default_access_policy() -> AccessPolicy:
    """The CPTS's GP-access priority policy (a bad file stops the service at start-up)."""
    return load_access_policy(ACCESS_POLICY_FILE)


@dataclass(frozen=True, slots=True)
class PathwaysRuntime:
    resources: Resources  # pool, NATS, clock, settings
    catalog: ProtocolCatalog
    streams: PatientStreams  # the one write path
    scheduler: Scheduler
    group_commit: GroupCommit
    access_policy: AccessPolicy | None = None  # GP-access priority (ACI mission 1)

    @classmethod
    def build(
        cls,
        resources: Resources,
        catalog: ProtocolCatalog,
        access_policy: AccessPolicy | None = None,
    ) -> PathwaysRuntime:
        access_policy = access_policy or default_access_policy()
        streams = PatientStreams(resources.pool, catalog, access_policy=access_policy)
        return cls(
            resources=resources,
            catalog=catalog,
            streams=streams,
            scheduler=Scheduler(streams, resources.clock),
            group_commit=GroupCommit(streams),
            access_policy=access_policy,
        )
