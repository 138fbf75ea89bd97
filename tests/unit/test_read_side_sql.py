"""The event store owns the SQL on ``events``: the read-side services ask it, never the table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQL_ON_EVENTS = re.compile(r"\b(FROM|JOIN|INTO|UPDATE)\s+events\b", re.IGNORECASE)


def modules_querying_events(folder: str) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if SQL_ON_EVENTS.search(line)
    )


def test_no_projections_module_queries_the_events_table():
    assert modules_querying_events("services/projections") == []


def test_no_notifications_module_queries_the_events_table():
    assert modules_querying_events("services/notifications") == []


def test_the_event_store_does():
    assert modules_querying_events("parcours") != []
    assert all(m.startswith("parcours/eventstore/") for m in modules_querying_events("parcours"))
