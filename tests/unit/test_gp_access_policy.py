"""The GP-access priority policy file: loaded and validated like the protocol files, and
its criteria turned into a priority and a target delay (PROTOCOLS.md § 6)."""

from __future__ import annotations

import pytest

from pathways.domain import ProtocolError, parse_access_policy
from tests.unit.access_story import POLICY, POLICY_FILE


def test_the_policy_file_cites_a_source_for_every_criterion() -> None:
    sources = {s.id for s in POLICY.metadata.sources}
    assert POLICY.id == "gp-access-priority" and POLICY.version == 1
    ids = {c.id for c in POLICY.criteria}
    assert ids == {
        "ald",
        "age-70-plus",
        "child",
        "precarity",
        "recent-discharge",
        "pregnancy",
        "disability",
        "gp-left",
    }
    assert all(c.source in sources for c in POLICY.criteria)


def test_ald_and_age_70_make_a_first_priority_with_a_30_day_target() -> None:
    # weights of the v1 file: ALD 40 + age >= 70 25 = 65 >= 60 (P1, 30 days)
    a = POLICY.assess(["ald"], age=72, recent_discharge=False)
    assert (a.criteria, a.score, a.group, a.target_days) == (["ald", "age-70-plus"], 65, "P1", 30)


def test_c2s_and_ame_count_precarity_once() -> None:
    a = POLICY.assess(["c2s", "ame"], age=45, recent_discharge=False)
    assert (a.criteria, a.score, a.group, a.target_days) == (["precarity"], 25, "P2", 60)


def test_a_child_and_a_recent_followed_discharge() -> None:
    a = POLICY.assess([], age=8, recent_discharge=True)
    assert (a.criteria, a.score, a.group) == (["child", "recent-discharge"], 50, "P2")


def test_no_criterion_is_the_last_band() -> None:
    a = POLICY.assess([], age=None, recent_discharge=False)
    assert (a.criteria, a.score, a.group, a.target_days) == ([], 0, "P3", 90)


def test_age_69_is_not_70_plus() -> None:
    assert POLICY.assess([], age=69, recent_discharge=False).criteria == []
    assert POLICY.assess([], age=70, recent_discharge=False).criteria == ["age-70-plus"]


def _text() -> str:
    return POLICY_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (('source = "ameli-ald-2024"', 'source = "nowhere"'), "criteria[0].source", "nowhere"),
        (("weight = 40", 'weight = "heavy"'), "criteria[0].weight", "Expected `int`"),
        (('id = "ald"', 'id = "astrology"'), "criteria[0].id", "unknown criterion"),
        (("min_score = 0", "min_score = 5"), "bands[2].min_score", "starts at 0"),
        (("target_days = 30", "target_days = 0"), "bands[0].target_days", "between 1 and 365"),
        (("within_hours = 24", "within_hours = 12"), "unscheduled[0].within_hours", "24 or 48"),
        (("contact_working_days = 2", "contact_working_days = 0"), "timers.contact", "1 and 30"),
    ],
)
def test_a_bad_policy_file_names_the_place_and_the_reason(change, path, reason) -> None:  # noqa: ANN001
    with pytest.raises(ProtocolError) as caught:
        parse_access_policy(_text().replace(*change, 1), "bad.toml")
    assert caught.value.file == "bad.toml"
    assert caught.value.path.startswith(path), caught.value.path
    assert reason in str(caught.value)
