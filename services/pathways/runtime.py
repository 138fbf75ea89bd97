"""The pathways service's live collaborators, built once by its composition root.

``app.create_app`` builds a ``PathwaysRuntime`` when the connections are open and
hands it to the HTTP handlers through Litestar's dependency injection (a
``runtime: PathwaysRuntime`` parameter); the background workers get it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from parcours.service import Resources
from pathways.domain import ProtocolCatalog
from pathways.group_commit import GroupCommit
from pathways.scheduler import Scheduler
from pathways.streams import PatientStreams


@dataclass(frozen=True, slots=True)
class PathwaysRuntime:
    resources: Resources  # pool, NATS, clock, settings
    catalog: ProtocolCatalog
    streams: PatientStreams  # the one write path
    scheduler: Scheduler
    group_commit: GroupCommit

    @classmethod
    def build(cls, resources: Resources, catalog: ProtocolCatalog) -> PathwaysRuntime:
        streams = PatientStreams(resources.pool, catalog)
        return cls(
            resources=resources,
            catalog=catalog,
            streams=streams,
            scheduler=Scheduler(streams, resources.clock),
            group_commit=GroupCommit(streams),
        )
