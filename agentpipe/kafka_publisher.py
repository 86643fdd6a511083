"""One idempotent Kafka producer per process, awaited until the broker acknowledges.

Handlers call these functions inside a journaled step: the step completes only
after the delivery report says the record is on the broker (acks=all), so a
crash before that repeats the publish (same request id; readers deduplicate),
and a crash after it never publishes again.
"""

from __future__ import annotations

import asyncio
import json
import threading

from confluent_kafka import KafkaError, KafkaException, Producer

from agentpipe.settings import get_settings


class KafkaPublisher:
    def __init__(self, bootstrap: str):
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                # Each publish is awaited before the handler goes on, so waiting to batch only adds latency.
                "linger.ms": 1,
                "compression.type": "lz4",
                # Bounded so a dead broker fails the step (and Restate retries it) instead of hanging.
                "delivery.timeout.ms": 30_000,
                "message.max.bytes": 4 * 1024 * 1024,
            }
        )
        self._stop = threading.Event()
        # Delivery reports are served by poll(); a thread keeps polling so awaits never stall.
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def publish(
        self, topic: str, key: str | bytes | None, value: dict, headers: dict[str, str] | None = None
    ) -> tuple[int, int]:
        """Produce one JSON record and wait for the broker's ack; returns (partition, offset)."""
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future = loop.create_future()

        def on_delivery(err: KafkaError | None, msg) -> None:
            def settle() -> None:
                if delivered.done():
                    return
                if err is not None:
                    delivered.set_exception(KafkaException(err))
                else:
                    delivered.set_result((msg.partition(), msg.offset()))

            loop.call_soon_threadsafe(settle)

        payload = json.dumps(value, ensure_ascii=False).encode()
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=payload,
                    key=key,
                    headers=[(k, v.encode()) for k, v in (headers or {}).items()],
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                # Local queue full under load: let deliveries drain, then try again.
                await asyncio.sleep(0.01)
        return await delivered

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
        self._stop.set()


_publisher: KafkaPublisher | None = None
_lock = threading.Lock()


def get_publisher() -> KafkaPublisher:
    global _publisher
    with _lock:
        if _publisher is None:
            _publisher = KafkaPublisher(get_settings().kafka_bootstrap)
        return _publisher
