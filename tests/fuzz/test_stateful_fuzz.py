"""Stateful fuzzing of the real API: a hypothesis state machine drives the three services
(in-process, on the session's real PostgreSQL and NATS) in CPTS ``alpha``, on a seeded
cohort (``tests/fuzz/cohort.py``), with ids learned from earlier answers (bundles):
facts of every type, valid and hostile but storable (``tests/fuzz/hostile_facts.py``),
batches, task commands by the right and the wrong role, the directory, and the views.

After every step: no 5xx, every 4xx an RFC 9457 problem with a detail, every service
ready. After every sequence: a normal heart-failure discharge in CPTS ``beta`` still
produces its tasks (coordinator worklist), its notifications on NATS and its timeline
within seconds. The statuses per rule are printed at the end of the run.

``make test``: a few short sequences; ``PARCOURS_FUZZ=long``: many, longer ones.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from contracts import shapes
from contracts.identity import synthetic_ins
from tests.fuzz.beta_tenant import beta_still_served
from tests.fuzz.cohort import NURSE, ZONE, seed_into
from tests.fuzz.hostile_facts import facts, text
from tests.fuzz.live_apps import LiveApps
from tests.fuzz.stateful_context import (
    ACTIONS,
    ALPHA,
    AS_OF,
    LONG,
    NEXT,
    PERIODS,
    ROLES,
    SEQUENCES,
    STEPS,
    ZONES,
    Context,
    fault,
    request,
)  # fmt: skip
from tests.fuzz.statuses import STATUSES


class AlphaMachine(RuleBasedStateMachine):
    patients = Bundle("patients")
    tasks = Bundle("tasks")
    enrolments = Bundle("enrolments")
    professionals = Bundle("professionals")

    def __init__(self) -> None:
        super().__init__()
        # ids learned from answers, kept out of the bundles: how many there are depends on
        # the system's timing, and hypothesis requires draws that do not (``pick``)
        self.learned: dict[str, list[Any]] = {
            "patients": [], "tasks": [], "enrolments": [], "professionals": []
        }  # fmt: skip

    def pick(self, data: Any, kind: str, seeded: Any) -> Any:
        """A learned id of ``kind`` or the seeded one drawn from its bundle, half the time
        each (the draw has the same shape however many ids were learned)."""
        index = data.draw(st.integers(0, 2**16), label=f"learned {kind}")
        learned = self.learned[kind]
        return learned[index // 2 % len(learned)] if learned and index % 2 else seeded

    # -- what the seeded cohort already holds -------------------------------------------
    @initialize(target=patients)
    def known_patients(self) -> Any:
        return multiple(*Context.world.patients)

    @initialize(target=tasks)
    def known_tasks(self) -> Any:
        return multiple(*Context.world.nurse_tasks, *Context.world.tasks[:30])

    @initialize(target=enrolments)
    def known_enrolments(self) -> Any:
        return multiple(*Context.world.enrolments)

    @initialize(target=professionals)
    def known_professionals(self) -> Any:
        return multiple(*Context.world.professionals)

    # -- facts ------------------------------------------------------------------------------
    def learn_patient(self, stream: str) -> None:
        self.learned["patients"].append(uuid.UUID(stream.removeprefix("patient-")))

    @rule(data=st.data(), actor=st.sampled_from(["hospital", "nurse", "gp"]))
    def post_fact(self, data: Any, actor: str) -> None:
        body = data.draw(facts(Context.world.identities))
        answer = request("post_fact", "pathways", "POST", "/v1/facts", actor, json=body)
        if answer.status_code in (200, 201):
            self.learn_patient(answer.json()["stream"])

    @rule(data=st.data(), size=st.integers(1, 5))
    def post_batch(self, data: Any, size: int) -> None:
        items = [data.draw(facts(Context.world.identities)) for _ in range(size)]
        answer = request("post_batch", "pathways", "POST", "/v1/facts:batch", "hospital",
                           json=items)  # fmt: skip
        for r in answer.json()["results"] if answer.status_code == 200 else []:
            if r["status"] >= 500:
                raise fault(f"POST /v1/facts:batch: an item answered {r}")
            if r.get("stream"):
                self.learn_patient(r["stream"])

    # -- tasks ------------------------------------------------------------------------------
    @rule(status=st.sampled_from([None, "active", "closed"]))
    def list_enrolments(self, status: str | None) -> None:
        params = {"status": status} if status else {}
        answer = request("list_enrolments", "projections", "GET", "/v1/enrolments",
                           "coordinator", params=params)  # fmt: skip
        listed = answer.json()["enrolments"] if answer.status_code == 200 else []
        self.learned["enrolments"] += [uuid.UUID(e["enrolment_id"]) for e in listed[:20]]

    @rule(enrolment=enrolments, actor=st.sampled_from(["coordinator", "nurse"]), data=st.data())
    def enrolment_tasks(self, enrolment: uuid.UUID, actor: str, data: Any) -> None:
        enrolment = self.pick(data, "enrolments", enrolment)
        answer = request("enrolment_tasks", "pathways", "GET", f"/v1/enrolments/{enrolment}",
                           actor)  # fmt: skip
        found = answer.json()["tasks"] if answer.status_code == 200 else []
        self.learned["tasks"] += [uuid.UUID(t["task_id"]) for t in found]

    @rule(task=tasks, action=ACTIONS, actor=st.one_of(st.just("nurse"), ROLES), data=st.data())
    def command_task(self, task: uuid.UUID, action: str, actor: str, data: Any) -> None:
        task = self.pick(data, "tasks", task)
        body: dict[str, Any] = {}
        if action in ("complete",):
            body["findings"] = data.draw(st.one_of(st.none(), text(shapes.NOTE_MAX)))
        if action in ("reject", "fail", "cancel"):
            body["reason"] = data.draw(st.one_of(st.none(), text(shapes.NOTE_MAX)))
        if action == "reassign":
            someone = self.pick(data, "professionals", data.draw(self.professionals))
            body["assignee"] = data.draw(st.sampled_from([None, someone]))
        request("command_task", "pathways", "POST", f"/v1/tasks/{task}/{action}", actor,
                  json=body)  # fmt: skip

    @rule(enrolment=enrolments, data=st.data())
    def walk_task(self, enrolment: uuid.UUID, data: Any) -> None:
        """The next step of one of an enrolment's tasks, by its assignee (or its pool's role)."""
        enrolment = self.pick(data, "enrolments", enrolment)
        index = data.draw(st.integers(0, 2**16), label="task of the enrolment")
        findings = data.draw(st.one_of(st.none(), text(shapes.NOTE_MAX)))
        seen = request("walk_task", "pathways", "GET", f"/v1/enrolments/{enrolment}",
                         "coordinator")  # fmt: skip
        found = seen.json()["tasks"] if seen.status_code == 200 else []
        if not found:
            return
        task = found[index % len(found)]
        action = NEXT.get(task["status"], "accept")  # a closed task: a refusal
        role = task["role"] if task["role"] in ("nurse", "gp") else "specialist"
        claims = {"zones": [ZONE]} if role == "nurse" else {}
        if role == "specialist":
            claims = {"specialty": task["role"]}
        who = (role, task["assignee"] or NURSE, claims)
        body = {"findings": findings} if action == "complete" else {}
        request("walk_task", "pathways", "POST", f"/v1/tasks/{task['task_id']}/{action}",
                  who, json=body)  # fmt: skip

    # -- directory --------------------------------------------------------------------------
    @rule(rpps=st.integers(10**10, 10**11 - 1).map(str),
          role=st.sampled_from(["nurse", "gp", "cardiologist", "midwife", "lab"]),
          zones=st.lists(ZONES, max_size=shapes.ZONES_MAX))  # fmt: skip
    def add_professional(self, rpps: str, role: str, zones: list[str]) -> None:
        body = {"rpps": rpps, "role": role, "zones": zones}
        answer = request("add_professional", "notifications", "POST",
                           "/v1/directory/professionals", "coordinator", json=body)  # fmt: skip
        if answer.status_code == 201:
            self.learned["professionals"].append(rpps)

    @rule(rpps=professionals, zones=st.one_of(st.none(), st.lists(ZONES, max_size=5)),
          active=st.one_of(st.none(), st.booleans()),
          specialty=st.sampled_from([None, "cardiologist", "pulmonologist"]),
          data=st.data())  # fmt: skip
    def patch_professional(
        self, rpps: str, zones: Any, active: Any, specialty: Any, data: Any
    ) -> None:
        rpps = self.pick(data, "professionals", rpps)
        body = {"zones": zones, "active": active, "specialty": specialty}
        request("patch_professional", "notifications", "PATCH",
                  f"/v1/directory/professionals/{rpps}", "coordinator", json=body)  # fmt: skip

    @rule(zone=ZONES)
    def set_sector(self, zone: str) -> None:
        request("set_sector", "notifications", "PUT", "/v1/directory/sector", "coordinator",
                  json={"default_zone": zone})  # fmt: skip

    # -- views ------------------------------------------------------------------------------
    @rule(patient=patients, actor=ROLES, as_of=AS_OF, data=st.data())
    def read_timeline(self, patient: uuid.UUID, actor: str, as_of: Any, data: Any) -> None:
        patient = self.pick(data, "patients", patient)
        params = {"as_of": as_of} if as_of else {}
        request("read_timeline", "projections", "GET", f"/v1/patients/{patient}/timeline",
                  actor, params=params)  # fmt: skip

    @rule(actor=ROLES, as_of=AS_OF, which=st.sampled_from(["me", "coordinator", "pool"]))
    def read_worklist(self, actor: str, as_of: Any, which: str) -> None:
        path = {"me": "/v1/worklists/me", "coordinator": "/v1/worklists/coordinator",
                "pool": f"/v1/worklists/pool/nurse/{ZONE}"}[which]  # fmt: skip
        params = {"as_of": as_of} if as_of else {}
        request("read_worklist", "projections", "GET", path, actor, params=params)

    @rule(actor=st.sampled_from(["nurse", "gp", "coordinator"]))
    def read_notifications(self, actor: str) -> None:
        path = "/v1/coordinator/unseen" if actor == "coordinator" else "/v1/me/tasks"
        request("read_notifications", "notifications", "GET", path, actor)

    @rule(data=st.data(), period=PERIODS, actor=st.sampled_from(["auditor", "coordinator"]),
          view=st.sampled_from(["list", "one", "cases", "measure", "export", "export-cases",
                                "mission", "case-timeline"]))  # fmt: skip
    def read_indicators(self, data: Any, period: str, actor: str, view: str) -> None:
        code = data.draw(st.sampled_from(Context.world.codes))
        pseudonym = data.draw(st.sampled_from(Context.world.pseudonyms))
        path = {
            "list": "/v1/indicators",
            "one": f"/v1/indicators/{code}",
            "cases": f"/v1/indicators/{code}/cases",
            "measure": f"/v1/indicators/{code}/measure-report",
            "export": "/v1/exports/indicators",
            "export-cases": f"/v1/exports/indicators/{code}/cases",
            "mission": "/v1/reports/mission",
            "case-timeline": f"/v1/cases/{pseudonym}/timeline",
        }[view]
        fmt = data.draw(st.sampled_from([{}, {"format": "csv"}]))
        request("read_indicators", "projections", "GET", path, actor,
                  params={"period": period, **fmt})  # fmt: skip

    @invariant()
    def every_service_ready(self) -> None:
        for name, client in Context.apps.clients.items():
            ready = Context.apps.run(client.get("/health/ready"))
            assert ready.status_code == 200, f"{name} not ready: {ready.text[:300]}"

    def teardown(self) -> None:
        Context.beta_patients += 1
        ins = synthetic_ins(95_000 + Context.beta_patients)
        try:
            Context.apps.run(beta_still_served(Context.apps, Context.token, ins), timeout=90)
        except AssertionError as exc:
            raise fault(f"beta not served after the sequence: {exc}") from exc
        STATUSES.setdefault("[stateful] teardown: beta still served", Counter())["2xx"] += 1
        # what the edge stored, every consumer handled: nothing of alpha was set aside
        letters = request("teardown: dead letters", "pathways", "GET",
                            "/v1/admin/dead-letters", "coordinator").json()  # fmt: skip
        if letters["open"]:
            seen = [(d["type"], d["consumer"], d["reason"]) for d in letters["dead_letters"]]
            raise fault(f"alpha events the edge accepted were dead-lettered: {seen}")


def test_alpha_fuzzed_statefully_never_fails_and_beta_is_still_served(
    fuzz_settings, fuzz_token
) -> None:
    Context.faults = []
    with LiveApps(fuzz_settings) as apps:

        def alpha(role: str, **kw: Any) -> str:
            return fuzz_token(role, **{"cpts": ALPHA, **kw})

        Context.apps, Context.token = apps, fuzz_token
        c = apps.clients
        Context.world = apps.run(
            seed_into(c["pathways"], c["notifications"], c["projections"], alpha)
        )
        settings = hypothesis.settings(
            max_examples=SEQUENCES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=not LONG,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.generate],
            print_blob=False,
        )
        try:
            run_state_machine_as_test(AlphaMachine, settings=settings)
        except Exception as exc:
            if Context.faults:  # the first failure as seen, not hypothesis's replay of it
                pytest.fail(f"{Context.faults[0]}\n(then {type(exc).__name__}: {exc})"[:4000])
            raise
    assert STATUSES["[stateful] post_fact"]["2xx"], "no fact was ever stored"
    rules = {n for n, f in vars(AlphaMachine).items() if hasattr(f, "hypothesis_stateful_rule")}
    ran = {label.removeprefix("[stateful] ") for label in STATUSES}
    assert rules <= ran, f"rules never run (raise SEQUENCES): {sorted(rules - ran)}"


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
