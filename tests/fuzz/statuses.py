"""How each operation answered the fuzzer (how many 2xx, 4xx, 5xx), printed at the end of
the run by ``tests/fuzz/conftest.py``."""

from __future__ import annotations

from collections import Counter
from typing import Any

STATUSES: dict[str, Counter[str]] = {}


def print_statuses(terminalreporter: Any) -> None:
    if not STATUSES:
        return
    terminalreporter.section("fuzz: statuses per operation")
    for label, seen in sorted(STATUSES.items(), key=lambda kv: kv[0].split(" ", 1)[::-1]):
        counts = "  ".join(f"{k} {seen.get(k, 0):>4}" for k in ("2xx", "4xx", "5xx"))
        terminalreporter.write_line(f"{counts}   {label}")
