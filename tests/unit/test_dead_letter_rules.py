"""Dead letters: reasons never carry the values involved; a stream waits from its failed event on."""

from __future__ import annotations

import uuid

from parcours.deadletters import Parked, reason_of


def test_a_reason_keeps_the_error_type_and_masks_quoted_values_and_identifiers():
    reason = reason_of(KeyError("DUPONT Jeanne"))
    assert reason.startswith("KeyError") and "DUPONT" not in reason
    reason = reason_of(ValueError('invalid literal for int(): "Martin" 295109912611193'))
    assert "Martin" not in reason and "295109912611193" not in reason
    assert reason_of(OverflowError("date value out of range")) == (
        "OverflowError: date value out of range"
    )
    assert len(reason_of(ValueError("x" * 5000))) <= 300


def test_a_parked_stream_holds_its_failed_event_and_what_follows_not_what_came_before():
    failed = uuid.uuid4()
    parked = Parked([("patient-a", failed, 10)])
    assert parked.behind("patient-a", 9) is None  # applied before the failure
    assert parked.behind("patient-a", 10) == failed
    assert parked.behind("patient-a", 11) == failed
    assert parked.behind("patient-b", 11) is None
    parked.park("patient-b", (other := uuid.uuid4()), 20)
    parked.park("patient-b", uuid.uuid4(), 30)  # the first failure stays the one to wait for
    assert parked.behind("patient-b", 31) == other
