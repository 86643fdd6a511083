"""Kafka helpers for the end-to-end tests: produce any record (hostile ones too), read what comes out
with the client's own reader (producers/broker.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import cast

from confluent_kafka import Producer

from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic, request_topic, result_topic
from producers import broker
from producers.errors import Unreachable


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


class TopicReader(broker.TopicReader):
    """The client's reader (producers.broker.TopicReader) that keeps every record it read, for assertions.

    ``TopicReader.open(topics)`` reads from the current end of each partition, ``from_beginning=True``
    from its start. ``seen`` holds each record read so far as ``{topic, partition, offset, key, headers,
    value}``, value being the parsed JSON (None when it is not JSON).
    """

    def __init__(self, ranges: broker.Ranges):
        super().__init__(ranges)
        self.seen: list[dict] = []

    @classmethod
    def open(cls, topics: Iterable[str], from_beginning: bool = False) -> TopicReader:
        return cast(TopicReader, super().open(topics, from_beginning))

    def collect(self, done: Callable[[list[dict]], bool], timeout: float = 60.0) -> list[dict]:
        """Read until ``done(seen)`` holds; TimeoutError (with the last records read) when it does not in time.

        A broker that went away (the fault tests kill it) is waited out: the consumer reconnects
        when it is back, and the deadline still holds.
        """
        deadline = time.monotonic() + timeout
        outage: Unreachable | None = None
        while not done(self.seen):
            if time.monotonic() > deadline:
                during = f" (the broker went away: {outage})" if outage else ""
                raise TimeoutError(
                    f"condition not met within {timeout}s{during}; saw {len(self.seen)} records: {self.seen[-5:]}"
                )
            try:
                self.seen.extend(as_dict(record) for record in self.poll_batch(0.2))
            except Unreachable as exc:
                outage = exc
        return self.seen

    def read_to_current_end(self, timeout: float = 60.0) -> list[dict]:
        """Read on until every partition is read up to where it ends now, not where it ended at open.

        A count of duplicates is only honest once a late copy (published after the
        first copy of every id arrived) had its chance to be read.
        """
        self.extend_to_current_end()
        return self.collect(lambda _seen: self.caught_up(), timeout)


def as_dict(record: broker.Record) -> dict:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key_text,
        "headers": record.headers,
        "value": record.json(),
    }


def results_for(records: list[dict], request_ids: Iterable[str]) -> dict[str, dict]:
    wanted = set(request_ids)
    return {
        r["value"]["request_id"]: r
        for r in records
        if isinstance(r["value"], dict) and r["value"].get("request_id") in wanted
    }


def wait_for_results(
    pattern: str, request_ids: list[str], reader: TopicReader, timeout: float = 60.0
) -> dict[str, dict]:
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
    return TopicReader.open(topics)
