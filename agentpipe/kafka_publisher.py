"""One idempotent Kafka producer per process, awaited until the broker acknowledges.

Handlers call these functions inside a journaled step: the step completes only
after the delivery report says the record is on the broker (acks=all), so a
crash before that repeats the publish (same request id; readers deduplicate),
and a crash after it never publishes again.

Errors come in two kinds. Transient ones (broker away, timeouts) raise
KafkaException and the step is retried until they pass. Permanent ones (a
record the broker will never take, a value that cannot be encoded) raise
PermanentPublishError, so the caller can publish something else instead of
retrying forever. A fatal error of the idempotent producer (it can no longer
guarantee order or no duplicates) retires that producer; the next publish gets a new one.
"""

from __future__ import annotations

import asyncio
import json
import threading

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from agentpipe.kafka_config import client_config
from agentpipe.settings import get_settings

# Errors no retry of the same record can fix.
PERMANENT_ERRORS = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_MSG_SIZE,
    KafkaError.INVALID_RECORD,
    KafkaError.INVALID_MSG,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError._INVALID_ARG,
}


class PermanentPublishError(Exception):
    """The broker will never take this record."""


class KafkaPublisher:
    def __init__(self, bootstrap: str | None = None) -> None:
        self._producer = Producer(
            client_config(
                **{
                    "bootstrap.servers": bootstrap or get_settings().kafka_bootstrap,
                    "enable.idempotence": True,
                    "acks": "all",
                    # Each publish is awaited before the handler goes on, so waiting to batch only adds latency.
                    "linger.ms": 1,
                    "compression.type": "lz4",
                    # Bounded so a dead broker fails the step (and Restate retries it) instead of hanging.
                    "delivery.timeout.ms": 30_000,
                    "message.max.bytes": get_settings().kafka_max_message_bytes,
                }
            )
        )
        self.broken = False
        self._stop = threading.Event()
        # Delivery reports are served by poll(); a thread keeps polling so awaits never stall.
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _failure(self, err: KafkaError) -> Exception:
        if err.fatal():
            self.broken = True  # get_publisher() replaces this producer
        if err.code() in PERMANENT_ERRORS:
            return PermanentPublishError(f"Kafka refused the record: {err.str()}")
        return KafkaException(err)

    async def publish(
        self, topic: str, key: str | bytes | None, value: dict, headers: dict[str, str] | None = None
    ) -> tuple[int, int]:
        """Produce one JSON record and wait for the broker's ack; returns (partition, offset)."""
        loop = asyncio.get_running_loop()
        delivered: asyncio.Future = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            def settle() -> None:
                if delivered.done():
                    return
                if err is not None:
                    delivered.set_exception(self._failure(err))
                else:
                    delivered.set_result((msg.partition(), msg.offset()))

            loop.call_soon_threadsafe(settle)

        try:
            payload = json.dumps(value, ensure_ascii=False).encode()
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            raise PermanentPublishError(f"the record cannot be encoded as JSON: {exc}") from None
        limit = get_settings().kafka_max_message_bytes
        if len(payload) > limit:
            raise PermanentPublishError(f"the record is {len(payload)} bytes, over the limit of {limit}")
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
            except KafkaException as exc:
                raise self._failure(exc.args[0]) from None
        return await delivered

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
        self._stop.set()


_publisher: KafkaPublisher | None = None
_lock = threading.Lock()


def get_publisher() -> KafkaPublisher:
    global _publisher
    with _lock:
        if _publisher is None or _publisher.broken:
            if _publisher is not None:
                _publisher._stop.set()  # retired after a fatal error; its pending deliveries have failed
            _publisher = KafkaPublisher()
        return _publisher
