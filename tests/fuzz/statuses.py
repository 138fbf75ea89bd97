"""How each operation answered the fuzzer (how many 2xx, 4xx, 5xx), printed at the end of
the run by ``tests/fuzz/conftest.py``."""

from __future__ import annotations

import json
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


def error_answer_fault(status: int, media: str, content: bytes) -> str | None:
    """Why an answer of status 300 and more breaks the contract (a 5xx; a 4xx that is not
    an RFC 9457 problem with a detail and its status), or None when it keeps it."""
    text = content[:300].decode("utf-8", "replace")
    if status >= 500:
        return f"{status} {text}"
    if status < 400:
        return None
    if not media.startswith("application/problem+json"):
        return f"{status} answered as {media!r}, not application/problem+json: {text[:200]}"
    try:
        body = json.loads(content)
    except ValueError:
        return f"{status} problem+json that is not JSON: {text[:200]}"
    if not isinstance(body, dict) or not isinstance(body.get("detail"), str) or not body["detail"]:
        return f"{status} problem without a detail: {body!r}"
    if body.get("status") != status:
        return f"{status} problem whose status says {body.get('status')!r}"
    if status == 422 and not (body.get("field") or body.get("reason") or body.get("errors")):
        return f"422 without a field or a reason: {body!r}"
    return None
