"""Every route of the three services, fuzzed from its OpenAPI document with valid tokens,
answers a client's nonsense with a 4xx problem+json that says what is wrong, never a 5xx.

Schemathesis draws requests that fit each operation's schema and requests that do not
(negative mode: wrong types, missing fields, out-of-range values), and sends them to the
real app in-process (ASGI), its lifespan running against the real PostgreSQL and NATS.
For each operation the first role its guard accepts is found once, then kept.

Bounded by default (``PARCOURS_FUZZ_EXAMPLES``, 30 examples per operation and mode,
seeded per operation so that CI sees the same requests); set ``PARCOURS_FUZZ_EXAMPLES=500`` and
``PARCOURS_FUZZ_SEED=<n>`` for a long, fresh run.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi

from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app

EXAMPLES = int(os.environ.get("PARCOURS_FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("PARCOURS_FUZZ_SEED")

APPS: dict[str, Callable[[Settings], Any]] = {
    "pathways": pathways_app,
    "notifications": notifications_app,
    "projections": projections_app,
}
# Long-lived streams never finish a response: they are exercised by their own tests.
SKIPPED = {("GET", "/v1/me/notifications/stream")}
# Tried in this order until an operation's guard lets the role through.
ROLES: tuple[dict[str, Any], ...] = (
    {"role": "admin"},
    {"role": "coordinator"},
    {"role": "nurse"},
    {"role": "discharge-system"},
    {"role": "auditor"},
    {"role": "specialist", "specialty": "cardiologist"},
)


@pytest.fixture(params=sorted(APPS))
def service(request: pytest.FixtureRequest, fuzz_settings: Settings) -> Iterator[tuple[str, Any]]:
    app = APPS[request.param](fuzz_settings)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)  # starts the lifespan
    try:
        yield request.param, schema
    finally:
        schemathesis_asgi.shutdown_lifespans()  # stop its workers before the next app starts


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name) or response.headers.get(name.title()) or ""
    return value[0] if isinstance(value, list) else value


def problem_of(response: Any) -> str | None:
    """Why this answer breaks the contract, or None when it keeps it."""
    status = response.status_code
    if status >= 500:
        return f"{status} {response.text[:300]}"
    if status < 400:
        return None
    media = _header(response, "content-type")
    if not media.startswith("application/problem+json"):
        return (
            f"{status} answered as {media!r}, not application/problem+json: {response.text[:200]}"
        )
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{status} problem+json that is not JSON: {response.text[:200]}"
    if not isinstance(body, dict) or not isinstance(body.get("detail"), str) or not body["detail"]:
        return f"{status} problem without a detail: {body!r}"
    if body.get("status") != status:
        return f"{status} problem whose status says {body.get('status')!r}"
    if status == 422 and not (body.get("field") or body.get("reason") or body.get("errors")):
        return f"422 without a field or a reason: {body!r}"
    return None


def _sender(
    label: str, tokens: list[dict[str, str]], chosen: dict[str, dict[str, str]]
) -> Callable[[Any], Any]:
    """Sends a case with the role kept for its operation (found on its first case)."""

    def send(case: Any) -> Any:
        candidates = [chosen[label]] if label in chosen else tokens
        for headers in candidates:
            response = case.call(headers=headers)
            refused = response.status_code == 403 and "may not do this" in response.text
            if not refused:
                chosen[label] = headers
                break
        return response

    return send


def _fuzzer(label: str, strategy: Any, send: Callable[[Any], Any]) -> Callable[[], None]:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
        print_blob=False,
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        response = send(case)
        why = problem_of(response)
        assert why is None, (
            f"{case.method} {case.formatted_path} -> {why}\n{case.as_curl_command()}"
        )

    # a seed of its own per operation: repeatable, and not the same draws everywhere
    return hypothesis.seed(zlib.crc32(label.encode()) + int(SEED or 0))(fuzz)


def test_every_route_answers_bad_input_with_a_problem_never_a_5xx(service, fuzz_token):
    name, schema = service
    tokens = [{"Authorization": f"Bearer {fuzz_token(**r)}"} for r in ROLES]
    chosen: dict[str, dict[str, str]] = {}
    failures: list[str] = []
    operations = 0

    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1
        label = f"{operation.method.upper()} {operation.path}"
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        fuzz = _fuzzer(label, strategy, _sender(label, tokens, chosen))
        try:
            fuzz()
        except AssertionError as exc:
            failures.append(f"{label}: {str(exc)[:1500]}")
        except BaseExceptionGroup as group:  # hypothesis found several distinct failures
            failures += [f"{label}: {str(e)[:1500]}" for e in group.exceptions]
        except Exception as exc:  # a transport error is a failure of the app too
            failures.append(f"{label}: {type(exc).__name__}: {exc}")

    assert operations >= 3, f"{name}: the OpenAPI document lists too few operations"
    assert not failures, f"{name}: {len(failures)} operation(s) broke the contract:\n" + "\n".join(
        failures
    )
