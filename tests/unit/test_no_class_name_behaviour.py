"""No behaviour keyed on class names: renaming a class must not change what the system
does or answers. Branches use ``isinstance`` or a Struct's explicit tag; a class name
may appear in logs only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("services/notifications", "services/projections", "contracts", "parcours")
NAMES = {"__name__", "__qualname__"}


def _is_class_name(node: ast.AST) -> bool:
    """``type(x).__name__``, ``x.__class__.__name__``, ``cls.__qualname__``…"""
    return isinstance(node, ast.Attribute) and node.attr in NAMES


def class_name_uses(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):  # type(p).__name__ == "X", in (...)
            if any(_is_class_name(n) for n in (node.left, *node.comparators)):
                lines.append(node.lineno)
        elif (  # table[type(p).__name__]; naming a generated class (a Store) is no lookup
            isinstance(node, ast.Subscript)
            and _is_class_name(node.slice)
            and not isinstance(node.ctx, ast.Store)
        ):
            lines.append(node.lineno)
        elif (  # x.__class__.__name__ turned into an answer (a title, a key)
            _is_class_name(node)
            and isinstance(node.value, ast.Attribute)  # type: ignore[attr-defined]
            and node.value.attr == "__class__"  # type: ignore[attr-defined]
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_branches_on_a_class_name() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line in class_name_uses(path.read_text())
    ]
    assert found == []


def test_the_check_sees_each_form() -> None:
    assert class_name_uses("if type(p).__name__ == 'X': pass") == [1]
    assert class_name_uses("y = x.__class__.__name__.removesuffix('E')") == [1]
    assert class_name_uses("h = HANDLERS[type(p).__name__]") == [1]
    assert class_name_uses("log.warning('x', error_type=type(exc).__name__)") == []
    assert class_name_uses("globals()[cls.__name__] = cls") == []


def test_a_problem_title_is_the_status_reason_phrase_not_the_exception_class() -> None:
    from litestar import Litestar, get
    from litestar.exceptions import NotFoundException
    from litestar.testing import TestClient

    from parcours.problems import EXCEPTION_HANDLERS

    class RenamedGone(NotFoundException):
        pass

    @get("/thing", sync_to_thread=False)
    def thing() -> str:
        raise RenamedGone("no such thing")

    app = Litestar([thing], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        missing, renamed = client.get("/nowhere"), client.get("/thing")
        not_allowed = client.post("/thing")
    assert (missing.status_code, missing.json()["title"]) == (404, "Not Found")
    assert (renamed.status_code, renamed.json()["title"]) == (404, "Not Found")
    assert (not_allowed.status_code, not_allowed.json()["title"]) == (405, "Method Not Allowed")
