"""The pathways service: ingestion API, protocols, the pure decider, timers, the relay.

The write side, from an input to the event store:

    api/ (HTTP)  batch_body (framing, per-item problems)      scheduler (due timers)
        |               |                                          |
    ingest (one command on a patient found by INS)   batch (many facts, group_commit)
        |               |                                          |
        +----- identities (INS -> patient id and stream, one round trip) ----+
                        |
                 streams.PatientStreams  <- the one write path: load (state_cache +
                        |                   newer events), domain.decide, wrap, append,
                        |                   conflict -> reload -> decide again
                 parcours.eventstore     <- the only module with SQL on ``events``

A new input (HL7 v2, FHIR, GP access...) is an adapter that turns a message into
commands and calls ``ingest.write_for_patient`` (by INS) or ``PatientStreams.write``
/ ``execute`` (by stream). ``timer_index`` is a projection of the store (timers,
tasks and enrolments by id) that the scheduler fires from and task commands and
migrations use to find a stream. ``runtime.PathwaysRuntime`` holds the live
collaborators; ``app.create_app`` builds it.
"""
