"""Gate: records of the keyed topics pass here before Restate sees them (work in progress).

    agent.requests.chat ─┐                       ┌─▶ agent.requests.chat.gated ─▶ Restate ─▶ ChatSession
    agent.approvals ─────┴─▶ gate (transaction) ─┼─▶ agent.approvals.gated ───▶ Restate ─▶ ApprovalIntake
                                                 └─▶ agent.dead-letters (keys Restate cannot take, unsigned decisions)

Restate's keyed subscriptions take a partition's records one key at a time, so a flood of
refused events on one key (unsigned decisions on a pending approval) holds up what follows it,
and a key that is not UTF-8 stops the whole subscription (subscriptions/guard.py). The gate reads
the public topics as a plain consumer, refuses such records in-process (thousands a second) and
copies the rest, on the same partition with the same key, to a gated topic that only it writes;
consumed offsets and copies commit in one Kafka transaction, so nothing is copied twice or lost.
Restate forwards no record headers, so a copy carries its original coordinates in its value
(``wrap``): results and dead letters name the record the user produced.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from agentpipe.gated import gated_topic, wrap
from agentpipe.kafka_publisher import client_config
from agentpipe.logs import configure_logging, get_logger
from agentpipe.messages import DeadLetter, Source, now_rfc3339, signature_problem
from agentpipe.records import RejectedRecord, printable
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic, dead_letters_topic
from subscriptions.desired import gated_topics
from subscriptions.guard import undeliverable

log = get_logger("gate")

BATCH = 500  # records per transaction
POLL_S = 0.2


def refusal(topic: str, key: bytes | None, value: bytes | None) -> str | None:
    """Why the gate dead-letters this record (the intake's own words); None: it passes."""
    why = undeliverable(key, value, keyed=True)
    if why is not None or topic != approvals_topic():
        return why
    from handlers.approvals import parse_approval_event  # the intake's parser, so the words match

    try:
        event = parse_approval_event(value or b"")
        text_key = key.decode("utf-8") if key is not None else None
        if text_key is not None and text_key != event.approval_id:
            return f"record key {printable(text_key)!r} is not the approval id {event.approval_id!r}"
    except RejectedRecord as exc:
        return str(exc)
    problem = signature_problem(get_settings().approval_secret, event)
    return f"{problem} (approval {event.approval_id!r})" if problem else None


class Gate:
    def __init__(self, topics: list[str], transactional_id: str) -> None:
        settings = get_settings()
        group = f"agentpipe-{settings.restate_kafka_cluster}-gate"
        self.topics = topics
        self.consumer = Consumer(
            client_config(
                **{
                    "group.id": group,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                }
            )
        )
        self.producer = Producer(client_config(**{"transactional.id": transactional_id, "acks": "all"}))
        self.producer.init_transactions(30)
        self.consumer.subscribe(topics)

    def close(self) -> None:
        self.consumer.close()

    def run_once(self) -> int:
        """One transaction: copy or dead-letter up to BATCH records. Returns how many it handled."""
        messages = [m for m in self.consumer.consume(BATCH, POLL_S) if m.error() is None]
        if not messages:
            return 0
        self.producer.begin_transaction()
        try:
            for message in messages:
                self._pass_on(message)
            positions = self.consumer.position(self.consumer.assignment())
            self.producer.send_offsets_to_transaction(positions, self.consumer.consumer_group_metadata(), 30)
            self.producer.commit_transaction(30)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise
            self.producer.abort_transaction(30)
            self._rewind()
            log.warning("gate transaction aborted", error=str(error))
            return 0
        return len(messages)

    def _pass_on(self, message: Message) -> None:
        topic, key, value = message.topic() or "", message.key(), message.value()
        source = Source(topic=topic, partition=message.partition(), offset=message.offset())
        why = refusal(topic, key, value)
        if why is None:
            self.producer.produce(gated_topic(topic), key=key, value=wrap(source, value), partition=source.partition)
            return
        letter = DeadLetter.for_payload(
            source, why, value or b"", failed_at=now_rfc3339(), keep_bytes=get_settings().dead_letter_payload_bytes
        )
        self.producer.produce(dead_letters_topic(), key=key, value=json.dumps(letter.model_dump()).encode())

    def _rewind(self) -> None:
        """Back to the committed offsets: the aborted transaction's records are read again."""
        for tp in self.consumer.committed(self.consumer.assignment(), timeout=10):
            if tp.offset >= 0:
                self.consumer.seek(tp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m subscriptions.gate", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    faulthandler.enable()
    configure_logging("topic-gate")
    cluster = get_settings().restate_kafka_cluster
    gate: Gate | None = None
    try:
        while True:
            try:
                if gate is None:
                    gate = Gate(gated_topics(), transactional_id=f"agentpipe-{cluster}-gate")
                gate.run_once()
            except KafkaException as exc:  # fatal: the producer is fenced or broken; start over
                log.warning("gate restarts", error=str(exc))
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
