"""Plain confluent-kafka helpers for the end-to-end tests: produce requests, read what comes out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, Producer, TopicPartition

from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic, request_topic, result_topic
from producers.broker import watermarks


def new_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


_producers: dict[str, Producer] = {}


def producer() -> Producer:
    """One idempotent producer per broker address, reused: starting one costs a round of PID setup."""
    bootstrap = get_settings().kafka_bootstrap
    if bootstrap not in _producers:
        _producers[bootstrap] = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 2})
    return _producers[bootstrap]


def produce(
    topic: str,
    value: bytes | dict | None,
    key: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    partition: int | None = None,
) -> tuple[int, int]:
    """Produce one record and return its (partition, offset)."""
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    p = producer()
    delivered: list = []
    kwargs = {"partition": partition} if partition is not None else {}
    p.produce(
        topic,
        value=raw,
        key=key,
        headers=[(k, v.encode()) for k, v in (headers or {}).items()],
        on_delivery=lambda err, msg: delivered.append((err, msg)),
        **kwargs,
    )
    p.flush(10)
    err, msg = delivered[0]
    assert err is None, err
    return msg.partition(), msg.offset()


def send_request(pattern: str, body: dict | None = None, key: str | None = None) -> str:
    """Produce a request with a fresh request id; returns the id."""
    body = dict(body or {})
    body.setdefault("request_id", new_id(pattern))
    produce(request_topic(pattern), body, key=key)
    return body["request_id"]


class TopicReader:
    """Reads topics from their current end (or beginning) without a consumer group commit."""

    def __init__(self, topics: Iterable[str], from_beginning: bool = False):
        self.consumer = Consumer(
            {
                "bootstrap.servers": get_settings().kafka_bootstrap,
                "group.id": new_id("reader"),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
            }
        )
        self.topics = list(topics)
        self.start: dict[tuple[str, int], int] = {}  # where each partition was assigned (reading from the end)
        if from_beginning:
            self.consumer.subscribe(self.topics)
        else:
            self._assign_at_end()
        self.seen: list[dict] = []

    def _assign_at_end(self) -> None:
        parts = []
        metadata = self.consumer.list_topics(timeout=10)
        for topic in self.topics:
            for partition in metadata.topics[topic].partitions:
                # watermarks() waits out a partition created moments ago that has no leader yet.
                high = watermarks(self.consumer, topic, partition, timeout=30.0)[1]
                parts.append(TopicPartition(topic, partition, high))
                self.start[(topic, partition)] = high
        self.consumer.assign(parts)

    def read_to_current_end(self, timeout: float = 60.0) -> list[dict]:
        """Keep reading until every partition is read up to where it ends now.

        A count of duplicates is only honest once a late copy (published after the
        first copy of every id arrived) had its chance to be read.
        """
        metadata = self.consumer.list_topics(timeout=10)
        ends = {(t, p): watermarks(self.consumer, t, p, timeout=30.0)[1]
                for t in self.topics for p in metadata.topics[t].partitions}

        def read_through(seen: list[dict]) -> bool:
            next_offset = dict(self.start)
            for r in seen:
                key = (r["topic"], r["partition"])
                next_offset[key] = max(next_offset.get(key, 0), r["offset"] + 1)
            return all(next_offset.get(tp, 0) >= end or self._position(tp) >= end for tp, end in ends.items())

        return self.collect(read_through, timeout)

    def _position(self, tp: tuple[str, int]) -> int:
        """The next offset the consumer fetches (offsets without a record, e.g. markers, count as read)."""
        [position] = self.consumer.position([TopicPartition(*tp)])
        return position.offset

    def collect(self, done: Callable[[list[dict]], bool], timeout: float = 60.0) -> list[dict]:
        """Poll until ``done(records)`` holds; each record is {topic, partition, offset, key, headers, value}."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.seen):
                return self.seen
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            try:
                value = json.loads(msg.value())
            except (TypeError, ValueError):
                value = msg.value()
            self.seen.append(
                {
                    "topic": msg.topic(),
                    "partition": msg.partition(),
                    "offset": msg.offset(),
                    "key": msg.key().decode("utf-8", "backslashreplace") if msg.key() else None,
                    "headers": {k: v.decode() for k, v in (msg.headers() or [])},
                    "value": value,
                }
            )
        if done(self.seen):
            return self.seen
        raise TimeoutError(f"condition not met within {timeout}s; saw {len(self.seen)} records: {self.seen[-5:]}")

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> "TopicReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def results_for(records: list[dict], request_ids: Iterable[str]) -> dict[str, dict]:
    wanted = set(request_ids)
    return {
        r["value"]["request_id"]: r
        for r in records
        if isinstance(r["value"], dict) and r["value"].get("request_id") in wanted
    }


def wait_for_results(pattern: str, request_ids: list[str], reader: TopicReader, timeout: float = 60.0) -> dict[str, dict]:
    reader.collect(lambda seen: len(results_for(seen, request_ids)) == len(set(request_ids)), timeout)
    return results_for(reader.seen, request_ids)


def request_and_wait(pattern: str, body: dict | None = None, key: str | None = None, timeout: float = 60.0) -> dict:
    """Send one request and return the value of its result record."""
    with result_reader(pattern) as reader:
        request_id = send_request(pattern, body, key=key)
        return wait_for_results(pattern, [request_id], reader, timeout)[request_id]["value"]


def result_reader(*patterns: str, dead_letters: bool = True) -> TopicReader:
    topics = [result_topic(p) for p in patterns]
    if dead_letters:
        topics.append(dead_letters_topic())
    return TopicReader(topics)
