"""Kafka access for the client: a quiet producer, and a reader over partition ranges.

The reader assigns partitions itself (no consumer group, nothing committed), so
any number of CLI invocations can read the same topics side by side. It knows
where each partition ended when it was opened, which lets callers read "what is
there now" and then, if they want, keep following.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata

from agentpipe.kafka_config import client_config
from agentpipe.records import RejectedRecord, decode_json
from agentpipe.settings import get_settings
from producers.errors import NotFound, Unreachable, WaitTimeout

# librdkafka logs every failed connect attempt to stderr; the CLI reports one line instead,
# so its clients pass logger=QUIET to client_config.
QUIET = logging.getLogger("agentpipe.client.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def cluster_metadata(timeout: float | None = None) -> ClusterMetadata:
    """Broker metadata, or Unreachable with the address that did not answer."""
    settings = get_settings()
    bootstrap = settings.kafka_bootstrap
    try:
        return AdminClient(client_config(logger=QUIET)).list_topics(timeout=timeout or settings.client_broker_timeout_s)
    except KafkaException as exc:
        error = exc.args[0]
        reason = error.str() if isinstance(error, KafkaError) else str(error)
        raise Unreachable(
            f"Kafka broker at {bootstrap} is unreachable ({reason}); is the stack up? (agentpipe up)"
        ) from None


def partitions_of(topic: str, metadata: ClusterMetadata | None = None) -> list[int]:
    metadata = metadata or cluster_metadata()
    if topic not in metadata.topics or metadata.topics[topic].error is not None:
        raise NotFound(f"topic {topic!r} does not exist on {get_settings().kafka_bootstrap}")
    return sorted(metadata.topics[topic].partitions)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp_ms: int | None

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key is not None else None

    @property
    def coordinates(self) -> str:
        """The id the intake derives for a record without one (the contract in docs/contract.md)."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    def json(self) -> Any:
        """The value parsed as JSON, or None when it is not JSON the pipeline would take.

        The intake's rules (agentpipe/records.py): a value with a lone surrogate, a duplicate key,
        NaN or nesting beyond the limit is refused there, so every reader here skips it instead of
        failing on it later (writing it out again, comparing it).
        """
        if self.value is None:
            return None
        try:
            return decode_json(self.value, limit=len(self.value))
        except RejectedRecord:
            return None

    @classmethod
    def from_message(cls, msg: Message) -> Record:
        """A consumed message (not an error event: those have no topic, partition or offset)."""
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            raise ValueError(f"not a record: {msg.error()}")
        ts_type, ts = msg.timestamp()
        headers = msg.headers() or []
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            key=msg.key(),
            value=msg.value(),
            headers={k: _header_text(v) for k, v in (headers.items() if isinstance(headers, dict) else headers)},
            timestamp_ms=ts if ts_type != 0 else None,
        )


def _header_text(value: str | bytes | None) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value or ""


class Publisher:
    """Produces JSON records; ``flush`` waits for every ack and raises if any failed."""

    def __init__(self, timeout_s: float = 15.0):
        # Bounded delivery: a broker that goes away fails the publish instead of hanging the CLI.
        self._producer = Producer(
            client_config(
                logger=QUIET,
                **{
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "message.timeout.ms": int(timeout_s * 1000),
                },
            )
        )
        self._timeout_s = timeout_s
        # One slot per record published since the last flush: its delivery report, once it came.
        self._deliveries: list[tuple[KafkaError | None, Message] | None] = []

    def publish(
        self,
        topic: str,
        value: dict,
        key: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        on_delivery: Callable[[], None] | None = None,
    ) -> None:
        slot = len(self._deliveries)
        self._deliveries.append(None)

        def delivered(err: KafkaError | None, msg: Message) -> None:
            self._deliveries[slot] = (err, msg)
            if on_delivery is not None and err is None:
                on_delivery()

        payload = json.dumps(value, ensure_ascii=False).encode()
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=payload,
                    key=key,
                    on_delivery=delivered,
                    headers=[(k, v.encode()) for k, v in (headers or {}).items()],
                )
                break
            except BufferError:  # local queue full: serve deliveries, then retry
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self) -> list[tuple[int, int]]:
        """(partition, offset) of each record published since the last flush, in publish order."""
        self._producer.flush(self._timeout_s + 5)
        deliveries, self._deliveries = self._deliveries, []
        failed = [err for err, _ in filter(None, deliveries) if err is not None]
        acked = [
            (p, o)
            for err, msg in filter(None, deliveries)
            if err is None and (p := msg.partition()) is not None and (o := msg.offset()) is not None
        ]
        if failed or len(acked) < len(deliveries):
            reason = failed[0].str() if failed else "not every record was acknowledged"
            raise Unreachable(f"publishing to {get_settings().kafka_bootstrap} failed: {reason}")
        return acked

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._producer.flush(1)


# A range per partition: (first offset to read, end offset captured when the range was made).
Ranges = dict[tuple[str, int], tuple[int, int]]


class TopicReader:
    """Reads assigned partition ranges; ``read_available`` stops at the captured ends, ``follow`` does not."""

    def __init__(self, ranges: Ranges):
        self._consumer = Consumer(
            client_config(
                logger=QUIET,
                **{
                    "group.id": f"agentpipe-cli-{uuid.uuid4().hex[:12]}",  # never joined: partitions are assigned
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    # librdkafka prefetches up to 100k records per partition by default: on a long read that,
                    # not the CLI, is what memory grows with. A smaller read-ahead keeps the pace.
                    "queued.min.messages": 5000,
                    "queued.max.messages.kbytes": 8192,
                },
            )
        )
        self._ends = {tp: end for tp, (_, end) in ranges.items()}
        self._next = {tp: start for tp, (start, _) in ranges.items()}
        self._consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in ranges.items()])

    @classmethod
    def open(cls, topics: Iterable[str], from_beginning: bool) -> TopicReader:
        """Every partition of ``topics``, from the beginning or from the current end."""
        return cls.open_window(topics, last=None if from_beginning else 0)

    @classmethod
    def open_window(cls, topics: Iterable[str], last: int | None = None, since_ms: int | None = None) -> TopicReader:
        """Every partition of ``topics`` from its last ``last`` records and/or from time ``since_ms``
        (the later of the two); neither: from the beginning."""
        metadata = cluster_metadata()
        ranges: Ranges = {}
        with probe_consumer() as probe:
            for topic in topics:
                partitions = partitions_of(topic, metadata)
                by_time = offsets_for_time(probe, topic, partitions, since_ms) if since_ms is not None else {}
                for partition in partitions:
                    low, high = watermarks(probe, topic, partition)
                    start = max(low, high - last) if last is not None else low
                    ranges[(topic, partition)] = (max(start, by_time.get(partition, low)), high)
        return cls(ranges)

    def extend_to_current_end(self) -> None:
        """Read up to where each partition ends now, not where it ended when the reader opened."""
        with probe_consumer() as probe:
            self._ends = {(t, p): watermarks(probe, t, p, timeout=30.0)[1] for t, p in self._ends}

    def caught_up(self) -> bool:
        return all(self._next.get(tp, 0) >= end for tp, end in self._ends.items())

    def poll(self, timeout: float) -> Record | None:
        records = self.poll_batch(timeout, 1)
        return records[0] if records else None

    def poll_batch(self, timeout: float, size: int = 500) -> list[Record]:
        """Up to ``size`` records; one call per batch keeps the per-record cost of a long read low."""
        records = []
        for msg in self._consumer.consume(size, timeout):
            error = msg.error()
            if error is not None:
                if error.fatal() or error.code() == KafkaError._ALL_BROKERS_DOWN:
                    raise Unreachable(f"Kafka broker at {get_settings().kafka_bootstrap} went away: {error.str()}")
                continue  # partition EOF and transient errors
            record = Record.from_message(msg)
            self._next[(record.topic, record.partition)] = record.offset + 1
            records.append(record)
        if not records:
            self._sync_positions()
        return records

    def _sync_positions(self) -> None:
        """Offsets without a record (transaction markers) still count as read."""
        lagging = [TopicPartition(t, p) for (t, p), end in self._ends.items() if self._next.get((t, p), 0) < end]
        if not lagging:
            return
        for tp in self._consumer.position(lagging):
            if tp.offset >= 0:
                self._next[(tp.topic, tp.partition)] = max(self._next.get((tp.topic, tp.partition), 0), tp.offset)

    def read_available(self, stall_timeout: float = 30.0, strict: bool = False) -> Iterator[Record]:
        """Records until every partition reached the end captured at open.

        Records that arrived since are yielded too (a later ``follow`` would not see
        them again) unless ``strict``, which keeps exactly the captured range. Gives
        up (WaitTimeout) when no record came for ``stall_timeout`` seconds.
        """
        last_progress = time.monotonic()
        while not self.caught_up():
            records = self.poll_batch(0.2)
            if records:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_timeout:
                topics = ", ".join(sorted({t for t, _ in self._ends}))
                raise WaitTimeout(f"reading {topics} made no progress for {stall_timeout:.0f}s")
            for record in records:
                if not (strict and record.offset >= self._ends[(record.topic, record.partition)]):
                    yield record

    def follow(self) -> Iterator[Record]:
        """Every record as it arrives, until the caller stops iterating."""
        while True:
            yield from self.poll_batch(0.2)

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def watermarks(consumer: Consumer, topic: str, partition: int, timeout: float = 15.0) -> tuple[int, int]:
    """(low, high) offsets; a partition created moments ago may need a retry until its leader is known."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=get_settings().client_broker_timeout_s
            )
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise Unreachable(f"cannot read offsets of {topic}[{partition}]: {exc.args[0].str()}") from None
            time.sleep(0.2)


@contextmanager
def probe_consumer() -> Iterator[Consumer]:
    """A consumer only for offset look-ups; it never subscribes."""
    consumer = Consumer(client_config(logger=QUIET, **{"group.id": "agentpipe-cli-probe"}))
    try:
        yield consumer
    finally:
        consumer.close()


def offsets_for_time(consumer: Consumer, topic: str, partitions: list[int], timestamp_ms: int) -> dict[int, int]:
    """Per partition, the first offset whose record time is >= timestamp (the end when there is none)."""
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, timestamp_ms) for p in partitions], timeout=get_settings().client_broker_timeout_s
        )
    except KafkaException as exc:
        raise Unreachable(f"cannot look up offsets by time in {topic}: {exc.args[0].str()}") from None
    return {tp.partition: tp.offset if tp.offset >= 0 else watermarks(consumer, topic, tp.partition)[1] for tp in found}
