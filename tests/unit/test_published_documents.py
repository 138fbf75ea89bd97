"""The documents other people's tools read are valid for those tools, and the build
is the one the lock describes.

- The committed AsyncAPI document passes the official parser (``@asyncapi/parser``
  from the npm registry, pinned in ``tools/node``) with no error.
- The three services' OpenAPI documents pass ``openapi-spec-validator``.
- ``make check-lock`` fails, naming the command to run, once a dependency is added
  to ``pyproject.toml`` without re-locking (and passes on the committed pair).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from contracts.export import SCHEMA_DIR
from notifications.app import create_app as notifications_app
from parcours.settings import Settings
from pathways.app import create_app as pathways_app
from projections.app import create_app as projections_app
from tests.required_tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
PARSER = ROOT / "tools" / "node" / "check-asyncapi.mjs"
UV = ROOT / ".tools" / "bin" / "uv"


def test_the_asyncapi_document_passes_the_official_parser() -> None:
    node = shutil.which("node")
    installed = (ROOT / "tools/node/node_modules/@asyncapi/parser/package.json").exists()
    require_tool(node is not None and installed, "node with @asyncapi/parser (make node-tools)")
    done = subprocess.run(
        [str(node), str(PARSER), str(SCHEMA_DIR / "asyncapi.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    diagnostics = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    errors = [d for d in diagnostics if d["severity"] == 0]
    assert errors == [], errors
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "create_app", [pathways_app, notifications_app, projections_app], ids=lambda f: f.__module__
)
def test_each_openapi_document_is_valid(create_app) -> None:
    settings = Settings.from_env(
        {}, database_url="postgresql://nobody@127.0.0.1:1/none", nats_url="nats://127.0.0.1:1"
    )
    document = create_app(settings).openapi_schema.to_schema()
    validate(json.loads(json.dumps(document)))  # raises with the path of the first error


def _project_copy(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml", "uv.lock", "tools/uv-requirements.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)  # mtimes kept: make rebuilds nothing
    return tmp_path


def _check_lock(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(project), "check-lock", f"UV={UV}"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_lock_check_passes_on_the_committed_pair_and_fails_after_an_unlocked_change(
    tmp_path: Path,
) -> None:
    require_tool(UV.exists() and shutil.which("make") is not None, "uv in .tools (make venv)")
    project = _project_copy(tmp_path)
    assert _check_lock(project).returncode == 0

    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert '  "httpx>=0.27",\n' in text
    pyproject.write_text(text.replace('  "httpx>=0.27",\n', '  "httpx>=0.27",\n  "six>=1.16",\n'))
    done = _check_lock(project)
    assert done.returncode != 0
    assert "run 'make lock'" in done.stderr
