"""Given/when/then helpers for access to care: the real priority policy file."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from pathways.domain import DecideContext, load_access_policy
from tests.unit.given_when_then import Story

POLICY_FILE = (
    Path(__file__).resolve().parents[2]
    / "services"
    / "pathways"
    / "policies"
    / "gp-access-priority.v1.toml"
)
POLICY = load_access_policy(POLICY_FILE)
REQUEST = UUID(int=900)
GP_A, GP_B = "10000000011", "10000000012"
PHARMACIST = "10000000021"


class AccessStory(Story):
    def ctx(self, now=None) -> DecideContext:  # noqa: ANN001
        return DecideContext(
            now=now or self.now, new_id=self.new_id, catalog=self.catalog, access_policy=POLICY
        )
