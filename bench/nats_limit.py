"""The physical limit of a JetStream consumer on this machine, measured in the same run as
the consumer it bounds: a bare durable pull consumer that receives and acks messages and
does nothing else."""

from __future__ import annotations

import time

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from parcours.puller import Puller


async def nats_pull_ack(resources, total: int, batch: int = 5000) -> float:  # type: ignore[no-untyped-def]
    """Seconds for a bare durable pull consumer (ack all per batch, as the views' consumer)
    to receive ``total`` messages of the events stream: the consumer's physical limit."""
    stream, name = resources.subjects.events_stream, f"{resources.subjects.prefix}-bench-pull"
    await resources.js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=name,
            ack_policy=AckPolicy.ALL,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=60,
            max_ack_pending=50_000,
        ),
    )
    puller = Puller(resources.js._nc, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}", batch)
    await puller.start()
    got, started = 0, time.perf_counter()
    try:
        while got < total:
            msgs = await puller.next_batch(wait=5.0)
            if not msgs:
                raise RuntimeError(f"NATS delivered {got} of {total} messages")
            for m in msgs:
                _ = m.metadata.sequence.stream  # what the views' consumer reads of each message
            got += len(msgs)
            await msgs[-1].ack()
    finally:
        await puller.close()
        await resources.js.delete_consumer(stream, name)
    return time.perf_counter() - started
