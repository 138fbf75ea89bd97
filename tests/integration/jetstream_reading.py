"""Every message a JetStream stream holds on some subjects, read raw (no de-duplication by
notification id, unlike an app's feed), so a test can count what was really published."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from contracts.notifications import Notification, notification_decoder


async def stored_messages(
    js: JetStreamContext, stream: str, subjects: list[str], within: float = 10.0
) -> list[tuple[int, str, bytes]]:
    """``(stream sequence, subject, data)`` of every message stored on ``subjects`` (filters,
    wildcards allowed), in stream order. Read after a marker arrived: it is all there."""
    out: list[tuple[int, str, bytes]] = []
    for subject in subjects:
        info = await js.stream_info(stream, subjects_filter=subject)
        if not info.state.subjects:
            continue
        sub = await js.subscribe(
            subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        try:
            while True:
                msg = await sub.next_msg(timeout=within)
                out.append((msg.metadata.sequence.stream, msg.subject, msg.data))
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
    return sorted(out)


async def stored_notifications(
    js: JetStreamContext, stream: str, subjects: list[str]
) -> list[tuple[str, Notification]]:
    """``(subject, notification)`` of every message stored on ``subjects``, in stream order."""
    return [
        (subject, notification_decoder.decode(data))
        for _, subject, data in await stored_messages(js, stream, subjects)
    ]
