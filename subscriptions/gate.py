"""Topic gate: records of the keyed topics pass here before Restate sees them.

    agent.requests.chat ─┐                       ┌─▶ agent.requests.chat.gated ─▶ Restate ─▶ ChatSession
    agent.approvals ─────┴─▶ gate (transaction) ─┼─▶ agent.approvals.gated ───▶ Restate ─▶ ApprovalIntake
                                                 └─▶ agent.dead-letters (keys Restate cannot take, bad decisions)

Restate's keyed subscriptions take a partition's records one key at a time, so a flood of refused
events on one key (unsigned decisions on a pending approval) would hold up what follows it, and a
key that is not UTF-8 stops Restate's consumer of the whole topic. The gate reads the public topics
as a plain consumer, refuses such records in-process (thousands a second) and copies the rest, with
the same key (one key's records keep their order), to a gated topic that only it writes. Consumed offsets and
copies commit in one Kafka transaction, so nothing is copied twice or lost, and Restate reads the
gated topics read_committed. Restate forwards no record headers, so a copy carries its original
coordinates in its value (agentpipe/gated.py): results and dead letters name the record the user
produced. ``python -m subscriptions.gate`` runs it (the local stack and compose start one).
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import sys
import threading
import time
from collections.abc import Iterator

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from agentpipe.approval_records import parse_approval_event
from agentpipe.gated import gated_topic, wrap
from agentpipe.group_offsets import committed_offsets
from agentpipe.kafka_config import client_config
from agentpipe.logs import configure_logging, get_logger
from agentpipe.messages import DeadLetter, Source, now_rfc3339, signature_problem
from agentpipe.records import RejectedRecord
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic, dead_letters_topic
from subscriptions.desired import gate_group, gated_topics, subscription_group

log = get_logger("topic-gate")

BATCH = 500  # records per transaction at most
POLL_S = 0.2
TIMEOUT_S = 30.0
# Each transactional call is given TXN_CALL_S; one still blocked after STALLED_S never returns.
TXN_CALL_S = 10.0
STALLED_S = 15.0
STALLED_EXIT_CODE = 75  # EX_TEMPFAIL: start it again
# An open transaction holds back every read_committed reader of its partitions; one left by a gate
# that died and does not come back is aborted by the broker after this long (librdkafka: 60 s).
TRANSACTION_TIMEOUT_MS = 15_000


def undeliverable(key: bytes | None, value: bytes | None) -> str | None:
    """Why Restate's ingress could not make a Virtual Object invocation of this record; None when it can."""
    if key is not None:
        try:
            key.decode("utf-8")
        except UnicodeDecodeError:
            return "record key is not valid UTF-8, so Restate cannot address a Virtual Object with it"
    size = len(key or b"") + len(value or b"")
    # Only a topic made with a larger max.message.bytes than ours holds such a record; its copy
    # would not fit the gated topic.
    limit = get_settings().kafka_max_message_bytes
    if size > limit:
        return f"record is {size} bytes, more than the {limit} bytes a topic of the pipeline takes"
    return None


def refusal(topic: str, key: bytes | None, value: bytes | None) -> str | None:
    """Why the gate dead-letters this record (the intake's own words); None: it passes."""
    why = undeliverable(key, value)
    if why is not None or topic != approvals_topic():
        return why
    try:
        event = parse_approval_event(value or b"", key.decode("utf-8") if key is not None else None)
    except RejectedRecord as exc:
        return str(exc)
    # Unsigned or badly signed decisions stop here, so a flood of them costs Restate nothing. Whether
    # the approval exists and is still open is the intake's to say (it holds the state).
    problem = signature_problem(get_settings().approval_secret, event)
    return f"{problem} (approval {event.approval_id!r})" if problem else None


def inherited_positions(consumer: Consumer, topics: list[str]) -> dict[tuple[str, int], int]:
    """Where the gate starts on partitions it has committed nothing on: where Restate's own subscription
    of the topic had got to, so a stack upgraded from reading the public topics directly goes on from
    there instead of copying (and running) their history again. ``consumer`` is in the gate's group."""
    metadata = consumer.list_topics(timeout=TIMEOUT_S).topics
    start_at: dict[tuple[str, int], int] = {}
    for topic in topics:
        if topic not in metadata:
            continue
        partitions = [TopicPartition(topic, p) for p in sorted(metadata[topic].partitions)]
        mine = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=TIMEOUT_S)}
        missing = [tp for tp in partitions if mine.get(tp.partition, -1) < 0]
        if missing:
            earlier = committed_offsets(subscription_group(topic), missing, TIMEOUT_S)
            start_at.update({(topic, p): offset for p, offset in earlier.items() if offset >= 0})
    return start_at


class Watchdog:
    """Ends the process when a transactional call blocks past STALLED_S.

    librdkafka's send_offsets_to_transaction can block for good, whatever its timeout, once the group
    coordinator's broker has restarted (confluentinc/librdkafka#5456, #5511; seen here with 2.16: the
    gate stopped copying after a broker restart). Nothing in-process unblocks it, so the gate exits and
    its supervisor (the local stack's, compose's restart policy, a Deployment) starts it again; its
    open transaction is aborted by the next init_transactions, or by the broker after
    TRANSACTION_TIMEOUT_MS, so nothing is copied twice. A gate that saw every broker go away starts
    again with new clients before it gets there (``Gate.lost_brokers``); this is for the rest, e.g.
    the coordinator's broker of a cluster replaced.
    """

    def __init__(self, limit_s: float = STALLED_S) -> None:
        self.limit_s = limit_s
        self.call: str | None = None
        self.since = 0.0
        threading.Thread(target=self._watch, name="gate-watchdog", daemon=True).start()

    @contextlib.contextmanager
    def watching(self, call: str) -> Iterator[None]:
        self.call, self.since = call, time.monotonic()
        try:
            yield
        finally:
            self.call = None

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            call = self.call
            if call is not None and time.monotonic() - self.since > self.limit_s:
                log.error("gate exits: a transactional call is stuck", call=call, stuck_s=round(self.limit_s))
                sys.stderr.flush()
                os._exit(STALLED_EXIT_CODE)


class Gate:
    def __init__(self, topics: list[str], instance: str, watchdog: Watchdog) -> None:
        self.topics = topics
        self.watchdog = watchdog
        self.lost_brokers = False
        group = gate_group()
        self.consumer = Consumer(
            client_config(
                **{
                    "group.id": group,
                    # Static membership: a gate that restarts (or crashes and is restarted) takes its
                    # partitions back at once; a new member would wait for the old one's session to expire.
                    "group.instance.id": instance,
                    "session.timeout.ms": 10_000,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                    "error_cb": self._on_error,
                }
            )
        )
        self.producer = Producer(
            client_config(
                **{
                    "transactional.id": instance,
                    "acks": "all",
                    "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                    "error_cb": self._on_error,
                }
            )
        )
        try:
            with watchdog.watching("init_transactions"):
                self.producer.init_transactions(TXN_CALL_S)  # aborts what a previous run left open
            self.start_at = inherited_positions(self.consumer, topics)
        except BaseException:
            self.consumer.close()
            raise
        if self.start_at:
            log.info("gate starts where the subscriptions had got to", positions=sorted(self.start_at.items()))
        self.consumer.subscribe(topics, on_assign=self._on_assign)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            inherited = self.start_at.get((tp.topic, tp.partition))
            if inherited is not None:
                tp.offset = inherited
        consumer.assign(partitions)

    def _on_error(self, error: KafkaError) -> None:
        # After every broker was gone, librdkafka may keep a coordinator it will never look up again,
        # and the next send_offsets_to_transaction blocks for good (see Watchdog): new clients are
        # cheaper than that wait.
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.lost_brokers = True

    def close(self) -> None:
        with self.watchdog.watching("consumer close"):  # with no broker to answer, it may wait long
            self.consumer.close()

    def take(self) -> list[Message]:
        """What is there: waits for one record at most POLL_S, then takes what else is ready."""
        self.producer.poll(0)  # serves its error callback
        first = self.consumer.poll(POLL_S)
        if first is None:
            return []
        messages = [first, *self.consumer.consume(BATCH - 1, 0)]
        for message in messages:
            if message.error() is not None:
                log.warning("gate consumer error", error=str(message.error()))
        return [m for m in messages if m.error() is None]

    def run_once(self) -> int:
        """One transaction: copy or dead-letter what is there. Returns how many records it handled."""
        messages = self.take()
        if not messages:
            return 0
        self.producer.begin_transaction()
        try:
            refused = sum(self._pass_on(message) for message in messages)
            offsets = _next_offsets(messages)
            group = self.consumer.consumer_group_metadata()
            with self.watchdog.watching("send_offsets_to_transaction"):
                self.producer.send_offsets_to_transaction(offsets, group, TXN_CALL_S)
            with self.watchdog.watching("commit_transaction"):
                self.producer.commit_transaction(TXN_CALL_S)
            for tp in offsets:  # from now on the gate's own offset says where it is
                self.start_at.pop((tp.topic, tp.partition), None)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise
            with self.watchdog.watching("abort_transaction"):
                self.producer.abort_transaction(TXN_CALL_S)
            self._rewind(messages)
            log.warning("gate transaction aborted; its records are read again", error=str(error))
            return 0
        if refused:
            log.info("records dead-lettered at the gate", refused=refused, copied=len(messages) - refused)
        return len(messages)

    def _pass_on(self, message: Message) -> bool:
        """Copy the record to its gated topic, or dead-letter it. True when it was refused."""
        topic, key, value = message.topic() or "", message.key(), message.value()
        source = Source(topic=topic, partition=message.partition(), offset=message.offset())
        why = refusal(topic, key, value)
        if why is None:
            # Partitioned by key, not by the original's partition: the public topic may have more.
            self.producer.produce(gated_topic(topic), key=key, value=wrap(source, value))
            return False
        letter = DeadLetter.for_payload(
            source, why, value or b"", failed_at=now_rfc3339(), keep_bytes=get_settings().dead_letter_payload_bytes
        )
        self.producer.produce(dead_letters_topic(), key=key, value=json.dumps(letter.model_dump()).encode())
        return True

    def _rewind(self, messages: list[Message]) -> None:
        """Back to the first record of the aborted batch on each partition: they are read again."""
        first: dict[tuple[str, int], int] = {}
        for m in messages:
            topic, partition, offset = _at(m)
            first.setdefault((topic, partition), offset)
        for (topic, partition), offset in first.items():
            # A partition no longer ours is skipped: its next owner starts from the committed offset.
            with contextlib.suppress(KafkaException):
                self.consumer.seek(TopicPartition(topic, partition, offset))


def _at(message: Message) -> tuple[str, int, int]:
    """A consumed record's topic, partition and offset (always set on what a consumer returns)."""
    return message.topic() or "", message.partition() or 0, message.offset() or 0


def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """The offsets to commit: one past the last record taken on each partition."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        topic, partition, offset = _at(m)
        last[(topic, partition)] = offset
    return [TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in last.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m subscriptions.gate", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    faulthandler.enable()
    configure_logging("topic-gate")
    # One gate per Kafka cluster: its transactional id fences an older copy of itself.
    instance = f"{gate_group()}-0"
    watchdog = Watchdog()
    gate: Gate | None = None
    try:
        while True:
            try:
                if gate is None:
                    gate = Gate(gated_topics(), instance, watchdog)
                    log.info("gate running", topics=gate.topics)
                gate.run_once()
                if gate.lost_brokers:
                    log.info("every broker was unreachable: the gate starts again with new clients")
                    gate.close()
                    gate = None
            except Exception as exc:  # fenced, broken, the cluster unreachable or a bug: start over
                log.warning("gate restarts", error=str(exc), exc_info=not isinstance(exc, KafkaException))
                if gate is not None:
                    gate.close()
                gate = None
                time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        if gate is not None:
            gate.close()


if __name__ == "__main__":
    raise SystemExit(main())
