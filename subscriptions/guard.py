"""Ingress guard: a record Restate cannot turn into an invocation must not stop its subscription.

Restate 1.7's Kafka ingress makes a Virtual Object invocation from a record's key,
and fails on a key that is not UTF-8. It then retries that record forever, and the
subscription (every partition of the topic) delivers nothing more: anyone who may
write to the chat or approvals topic could stop every session or every approval.
The intakes cannot help, since the record never reaches them.

The guard watches the keyed subscriptions. When the record at a partition's
committed position is one Restate cannot take, it publishes it (and any such
records right after it) as dead letters, then re-creates the subscription in the
same consumer group with that partition's position just past them. Keeping the
group keeps every other position and Restate's de-duplication of redelivered
records. ``python -m subscriptions.guard`` runs it as a loop (the local stack and
compose start it).
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from agentpipe.kafka_publisher import client_config
from agentpipe.logs import configure_logging, get_logger
from agentpipe.messages import DeadLetter, Source, now_rfc3339
from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic
from subscriptions.desired import Subscription, desired_subscriptions
from subscriptions.restate_admin import admin_client, create_subscription, list_subscriptions_with

log = get_logger("ingress-guard")

MAX_SKIPPED_AT_ONCE = 100
SCAN_LIMIT = 10_000  # records read past a stuck position to find what stops it
GROUP_EMPTY_TIMEOUT_S = 30.0


@dataclass
class Poison:
    subscription: Subscription
    partition: int
    offsets: list[int]  # consecutive records Restate cannot take
    reason: str


def undeliverable(key: bytes | None, value: bytes | None, keyed: bool) -> str | None:
    """Why Restate's ingress cannot make an invocation of this record; None when it can."""
    if keyed and key is not None:
        try:
            key.decode("utf-8")
        except UnicodeDecodeError:
            return "record key is not valid UTF-8, so Restate cannot address a Virtual Object with it"
    size = len(key or b"") + len(value or b"")
    if size > get_settings().restate_ingress_limit_bytes:
        return f"record is {size} bytes, more than Restate's ingress takes"
    return None


class IngressGuard:
    def __init__(self) -> None:
        self.admin = AdminClient(client_config())
        self.reader = Consumer(client_config(**{"group.id": "agentpipe-ingress-guard", "enable.auto.commit": False}))
        # Made on first use: an idempotent producer made while the broker's coordinator is still
        # loading crashed librdkafka here (and a repeated dead letter is harmless anyway).
        self._producer: Producer | None = None
        self.last_positions: dict[tuple[str, str, int], int] = {}
        self.group_readers: dict[str, Consumer] = {}

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(client_config(acks="all"))
        return self._producer

    def close(self) -> None:
        self.reader.close()
        for consumer in self.group_readers.values():
            consumer.close()
        if self._producer is not None:
            self._producer.flush(10)

    # -- finding ----------------------------------------------------------------

    def group_reader(self, group: str) -> Consumer:
        """A consumer in ``group`` that never subscribes: it reads and commits the group's offsets
        without joining it (the admin API's group-offset calls crashed librdkafka while the
        broker's group coordinator was still loading)."""
        if group not in self.group_readers:
            self.group_readers[group] = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
        return self.group_readers[group]

    def committed(self, subscription: Subscription, group: str) -> dict[int, int]:
        """Partition → where the group will read next (its low watermark when it never committed)."""
        metadata = self.admin.list_topics(subscription.topic, timeout=10).topics[subscription.topic]
        if metadata.error is not None:
            return {}
        parts = [TopicPartition(subscription.topic, p) for p in metadata.partitions]
        positions = {}
        for tp in self.group_reader(group).committed(parts, timeout=10):
            low, high = self.reader.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
            position = tp.offset if tp.offset >= 0 else low
            if position < high:
                positions[tp.partition] = position
        return positions

    def read(self, topic: str, partition: int, offset: int, count: int) -> list:
        """Up to ``count`` records from ``offset``; asks only for what is there, so it does not wait."""
        _low, high = self.reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        wanted = min(count, high - offset)
        if wanted <= 0:
            return []
        self.reader.assign([TopicPartition(topic, partition, offset)])
        messages: list = []
        deadline = time.monotonic() + 10
        while len(messages) < wanted and time.monotonic() < deadline:
            batch = self.reader.consume(wanted - len(messages), timeout=1.0)
            messages += [m for m in batch if m.error() is None]
            if messages and messages[-1].offset() + 1 >= high:
                break  # offsets may have gaps (transaction markers): the end is reached all the same
        return messages

    def find(self, subscription: Subscription, group: str) -> list[Poison]:
        """Undeliverable records in partitions whose committed position did not move since the last pass.

        Restate stores offsets only for what it ingested and commits them every second, so a
        partition with records after a position that stays put is stuck; while it is stuck
        nothing gets committed, so the record at fault may lie anywhere after that position.
        """
        found = []
        for partition, position in self.committed(subscription, group).items():
            seen_before = self.last_positions.get((group, subscription.topic, partition))
            self.last_positions[(group, subscription.topic, partition)] = position
            if seen_before != position:
                continue  # moving (or new): Restate is getting through it
            offsets, reason = self.scan(subscription, partition, position)
            if offsets:
                found.append(Poison(subscription, partition, offsets, reason))
        return found

    def scan(self, subscription: Subscription, partition: int, position: int) -> tuple[list[int], str]:
        """The first run of undeliverable records from ``position`` on (at most SCAN_LIMIT records read)."""
        offsets: list[int] = []
        reason = ""
        start = position
        while start < position + SCAN_LIMIT:
            batch = self.read(subscription.topic, partition, start, MAX_SKIPPED_AT_ONCE)
            if not batch:
                break
            for message in batch:
                why = undeliverable(message.key(), message.value(), subscription.keyed)
                if why is None and offsets:
                    return offsets, reason
                if why is not None and len(offsets) < MAX_SKIPPED_AT_ONCE:
                    offsets.append(message.offset())
                    reason = reason or why
            start = batch[-1].offset() + 1
        return offsets, reason

    # -- healing ----------------------------------------------------------------

    def dead_letter(self, poison: Poison) -> None:
        topic = poison.subscription.topic
        for message in self.read(topic, poison.partition, poison.offsets[0], len(poison.offsets)):
            if message.offset() not in poison.offsets:
                continue
            reason = undeliverable(message.key(), message.value(), poison.subscription.keyed) or poison.reason
            letter = DeadLetter.for_payload(
                Source(topic=topic, partition=poison.partition, offset=message.offset()),
                reason,
                message.value() or b"",
                failed_at=now_rfc3339(),
                keep_bytes=get_settings().dead_letter_payload_bytes,
            )
            self.producer.produce(
                dead_letters_topic(), key=message.key(), value=json.dumps(letter.model_dump()).encode()
            )
        if self.producer.flush(30) > 0:
            raise KafkaException("dead letters were not acknowledged in time")

    def skip(self, poison: Poison, current: dict) -> None:
        """Re-create the subscription with the poisoned partition's position past the records."""
        group = current["options"].get("group.id") or current["id"]
        with admin_client() as client:
            response = client.delete(f"/subscriptions/{current['id']}")
            if response.status_code >= 400 and response.status_code != 404:
                raise KafkaException(f"removing {current['id']}: HTTP {response.status_code}")
            after = TopicPartition(poison.subscription.topic, poison.partition, poison.offsets[-1] + 1)
            self._commit_when_empty(group, after)
            create_subscription(client, current["source"], current["sink"], current["options"])

    def _commit_when_empty(self, group: str, position: TopicPartition) -> None:
        """Kafka takes a commit from outside the group only once its members have left."""
        deadline = time.monotonic() + GROUP_EMPTY_TIMEOUT_S
        while True:
            try:
                self.group_reader(group).commit(offsets=[position], asynchronous=False)
                return
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"consumer group {group} kept its members {GROUP_EMPTY_TIMEOUT_S:.0f}s after "
                        f"its subscription was removed: {exc}"
                    ) from None
                time.sleep(0.2)

    def run_once(self) -> int:
        """One pass over the keyed subscriptions; returns how many records it moved to dead letters."""
        with admin_client() as client:
            current = {(s["source"], s["sink"]): s for s in list_subscriptions_with(client)}
        moved = 0
        for subscription in desired_subscriptions():
            listed = current.get((subscription.source, subscription.sink))
            if listed is None or not subscription.keyed:
                continue  # Service subscriptions take any key; input topics cap the record size
            group = listed.get("options", {}).get("group.id") or listed["id"]
            for poison in self.find(subscription, group):
                started = time.monotonic()
                self.dead_letter(poison)
                self.skip(poison, listed)
                moved += len(poison.offsets)
                log.warning(
                    "undeliverable records dead-lettered",
                    topic=subscription.topic,
                    partition=poison.partition,
                    offsets=poison.offsets,
                    reason=poison.reason,
                    seconds=round(time.monotonic() - started, 2),
                )
                break  # the subscription was re-created; look at it again on the next pass
        return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m subscriptions.guard", description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes (1)")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a crash inside librdkafka leaves a stack trace in the log
    configure_logging("ingress-guard")
    guard = IngressGuard()
    try:
        while True:
            try:
                guard.run_once()
            except Exception as exc:  # noqa: BLE001 - the stack may be starting or restarting: try again
                log.warning("guard pass failed", error=f"{type(exc).__name__}: {exc}")
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    finally:
        guard.close()


if __name__ == "__main__":
    raise SystemExit(main())
