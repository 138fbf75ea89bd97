"""Only the event store module holds SQL on the ``events`` table (issue 9, item 3).

A source file that reads or writes ``events`` itself (``FROM``/``INTO``/``UPDATE``/
``JOIN``/``TRUNCATE events``) bypasses the one write path and the store's
visibility rule. There is no exception.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("parcours", "services", "bench", "simulator", "contracts")
OWNER = "parcours/eventstore/"  # the event store package

EVENTS_SQL = re.compile(r"\b(FROM|INTO|UPDATE|JOIN|TRUNCATE)\s+events\b", re.IGNORECASE)


def offenders(root: Path = ROOT) -> list[str]:
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name.startswith(OWNER):
                continue
            text = path.read_text(encoding="utf-8")
            for match in EVENTS_SQL.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {match.group(0)!r}")
    return found


def test_sql_on_the_events_table_lives_in_the_event_store_only() -> None:
    assert offenders() == [], "move these queries into the parcours/eventstore package"


def test_the_check_sees_a_query_on_events_outside_the_event_store(tmp_path: Path) -> None:
    (tmp_path / "services" / "pathways").mkdir(parents=True)
    (tmp_path / "services" / "pathways" / "sneaky.py").write_text(
        'ROWS = """SELECT data\n  FROM   events e WHERE stream = $1"""\n'
    )
    (tmp_path / "parcours" / "eventstore").mkdir(parents=True)
    (tmp_path / "parcours" / "eventstore" / "writes.py").write_text(
        'SQL = "SELECT 1 FROM events"\n'
    )
    (tmp_path / "services" / "projections").mkdir()
    (tmp_path / "services" / "projections" / "views.py").write_text('Q = "JOIN events"\n')
    assert offenders(tmp_path) == [
        "services/pathways/sneaky.py:2: 'FROM   events'",
        "services/projections/views.py:1: 'JOIN events'",
    ]
