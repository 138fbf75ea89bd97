"""The names and keys of consumer leadership (parcours.leadership, parcours.consumer)."""

from __future__ import annotations

import pytest

from parcours.leadership import LeadershipLostError, check_term, durable_name, lock_key, term_of


def test_a_consumer_lock_key_is_the_same_every_time_and_fits_a_signed_bigint() -> None:
    key = lock_key("notifications-router")
    assert key == lock_key("notifications-router")
    assert 0 <= key < 2**63
    assert key != lock_key("parcours-projections-views")


def test_each_term_reads_through_a_jetstream_consumer_of_its_own() -> None:
    assert durable_name("notifications-router", 7) == "notifications-router-t7"
    assert durable_name("notifications-router", None) == "notifications-router"
    assert term_of("notifications-router", "notifications-router-t7") == 7
    assert term_of("notifications-router", "notifications-router") == 0
    assert term_of("notifications-router", "notifications-router-tx") is None
    assert term_of("notifications-router", "parcours-projections-views-t1") is None


def test_an_apply_of_an_ended_term_is_refused() -> None:
    check_term("c", 3, 3)
    check_term("c", None, 5)  # an unelected consumer (tests, tools)
    with pytest.raises(LeadershipLostError, match="term 3 ended, term 4 leads"):
        check_term("c", 3, 4)
