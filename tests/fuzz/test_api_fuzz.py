"""Every route of the three services, fuzzed from its OpenAPI document on a seeded cohort:
a client's nonsense gets a 4xx problem+json that says what is wrong, never a 5xx; every
2xx matches the response schema the document gives; and every operation that can succeed
does, at least once, on requests the fuzzer generated.

Three kinds of draws per operation (schemathesis, ASGI, in-process, the apps' lifespans on
the real PostgreSQL and NATS): positive cases (fit the schema), negative cases (wrong types,
missing fields, out-of-range values), and linked cases — positive cases with the real ids
of the seeded cohort (``tests/fuzz/cohort.py``) and plausible values put in
(``tests/fuzz/linking.py``); the ids the fuzzer's own successful requests create (patients,
enrolments, professionals) join them for the operations fuzzed after. The statuses per operation are printed at the end of the run.

``make test`` runs the short form (``EXAMPLES`` per operation, seeded per operation);
``make test-fuzz`` (``PARCOURS_FUZZ=long``) the long one; ``PARCOURS_FUZZ_SEED=<n>`` draws
other requests.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.fuzz.cohort import NURSE, ZONE, World
from tests.fuzz.linking import learn, link
from tests.fuzz.statuses import STATUSES, error_answer_fault

LONG = os.environ.get("PARCOURS_FUZZ") == "long"
EXAMPLES = int(os.environ.get("PARCOURS_FUZZ_EXAMPLES", "300" if LONG else "30"))
SEED = os.environ.get("PARCOURS_FUZZ_SEED")

APPS: dict[str, Callable[[Settings], Any]] = {
    "pathways": pathways_app,
    "notifications": notifications_app,
    "projections": projections_app,
}
# What each OpenAPI document lists (the stream is left to its own tests: it never ends).
# base 18/10/17; the care circle added 3 pathways and 1 projections operations, GP access
# and unscheduled care 6 pathways and 4 projections operations, the coordinator page 1
OPERATIONS = {"pathways": 27, "notifications": 10, "projections": 23}
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
# Operations that act as a person: the cohort's nurse (her tasks, her feed, her worklist).
AS_NURSE = ("POST /v1/tasks/", "GET /v1/me/", "POST /v1/me/", "GET /v1/worklists/me")
AS_COORDINATOR = ("GET /v1/patients/{patient_id}/identity", "POST /v1/enrolments")


@pytest.fixture(params=sorted(APPS))
def service(request: pytest.FixtureRequest, fuzz_settings: Settings, world: World) -> Iterator:
    app = APPS[request.param](fuzz_settings)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)  # starts the lifespan
    try:
        yield request.param, schema
    finally:
        schemathesis_asgi.shutdown_lifespans()  # stop its workers before the next app starts


def _header(response: Any, name: str) -> str:
    value = response.headers.get(name) or response.headers.get(name.title()) or ""
    return value[0] if isinstance(value, list) else value


def problem_of(case: Any, response: Any) -> str | None:
    """Why this answer breaks the contract, or None when it keeps it."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as exc:  # schemathesis raises its failures grouped
            return f"{status} does not match its response schema: {str(exc)[:600]}"
        return None
    return error_answer_fault(status, _header(response, "content-type"), response.content)


def _tokens(label: str, token: Callable[..., str]) -> list[dict[str, str]]:
    if label.startswith(AS_NURSE):
        return [{"Authorization": f"Bearer {token('nurse', sub=NURSE, zones=[ZONE])}"}]
    if label in AS_COORDINATOR:
        return [{"Authorization": f"Bearer {token('coordinator', sub='COORD-1')}"}]
    return [{"Authorization": f"Bearer {token(**r)}"} for r in ROLES]


def _sender(label: str, tokens: list[dict[str, str]]) -> Callable[[Any], Any]:
    """Sends a case with the role kept for its operation (found on its first case)."""
    chosen: list[dict[str, str]] = []

    def send(case: Any) -> Any:
        for headers in chosen or tokens:
            response = case.call(headers=headers)
            if not (response.status_code == 403 and "may not do this" in response.text):
                chosen[:] = [headers]
                break
        return response

    return send


@st.composite
def linked_cases(draw: Any, positive: Any, world: World, facts: Any) -> Any:
    return link(draw, world, draw(positive), facts)


def _fuzzer(
    label: str, strategy: Any, send: Callable[[Any], Any], world: World
) -> Callable[[], None]:
    seen = STATUSES.setdefault(label, Counter())

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
        seen[f"{response.status_code // 100}xx"] += 1
        why = problem_of(case, response)
        if why is None:
            learn(world, label, response)
        assert why is None, (
            f"{case.method} {case.formatted_path} -> {why}\n{case.as_curl_command()}"
        )

    # a seed of its own per operation: repeatable, and not the same draws everywhere
    return hypothesis.seed(zlib.crc32(label.encode()) + int(SEED or 0))(fuzz)


def test_every_route_keeps_its_contract_and_succeeds_on_real_ids(service, fuzz_token, world):
    name, schema = service
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIPPED:
            operations[f"{operation.method.upper()} {operation.path}"] = operation
    assert len(operations) == OPERATIONS[name], f"{len(operations)}: {sorted(operations)}"
    facts = operations.get("POST /v1/facts")
    facts_strategy = facts.as_strategy(GenerationMode.POSITIVE) if facts else None

    failures: list[str] = []
    for label, operation in operations.items():
        positive = operation.as_strategy(GenerationMode.POSITIVE)
        linked = linked_cases(positive, world, facts_strategy)
        strategy = st.one_of(linked, positive, operation.as_strategy(GenerationMode.NEGATIVE))
        fuzz = _fuzzer(label, strategy, _sender(label, _tokens(label, fuzz_token)), world)
        try:
            fuzz()
        except AssertionError as exc:
            failures.append(f"{label}: {str(exc)[:1500]}")
        except BaseExceptionGroup as group:  # hypothesis found several distinct failures
            failures += [f"{label}: {str(e)[:1500]}" for e in group.exceptions]
        except Exception as exc:  # a transport error is a failure of the app too
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
        if not STATUSES[label]["2xx"]:
            failures.append(f"{label}: never answered 2xx in {EXAMPLES} examples")

    assert not failures, f"{name}: {len(failures)} operation(s) broke the contract:\n" + "\n".join(
        failures
    )
