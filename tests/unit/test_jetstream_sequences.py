"""The consumer reads a JetStream message's sequences off its reply subject itself
(``parcours.puller.sequences``): the same numbers as the subject's documented layout."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg

from parcours.puller import sequences


def _msg(reply: str) -> Msg:
    return Msg(_client=None, subject="e.demo", reply=reply, data=b"{}")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "stream_seq", "consumer_seq"),
    [
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>
        ("$JS.ACK.EVENTS.views-t3.1.4211.17.1765152000000000000.9", 4211, 17),
        ("$JS.ACK.EVENTS.views-t3.2.98765432101.1.1765152000000000000.0", 98765432101, 1),
        # the form with a domain and an account hash (and a trailing token)
        ("$JS.ACK.hub.ACCHASH.EVENTS.views-t3.1.4211.17.1765152000000000000.9.x7", 4211, 17),
    ],
)
def test_the_sequences_are_those_of_the_reply_subject(reply, stream_seq, consumer_seq):
    assert sequences(_msg(reply)) == (stream_seq, consumer_seq)


def test_a_message_that_is_not_from_jetstream_is_refused():
    with pytest.raises(Exception, match="[Nn]ot.*JS|JetStream"):
        sequences(_msg("_INBOX.abc"))
