"""Tools some tests need from outside Python (Chromium, node): missing ones skip
those tests on a developer's machine, and fail them under CI (``CI`` set), where
``make test`` installs them."""

from __future__ import annotations

import os

import pytest


def require_tool(found: bool, what: str) -> None:
    """Skip (or, under CI, fail) the calling test when ``what`` is not ``found``."""
    if found:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI (make test installs it)", pytrace=False)
    pytest.skip(f"{what} is missing: `make test` installs it")
