"""The pathways service: ingestion API, protocols, the pure decider, timers, the relay."""
