"""The topic gate on a stack that ran without it: it starts where Restate's subscriptions had got to on
the public topics, so their history is neither copied nor run again (subscriptions/gate.py)."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from agentpipe.kafka_config import client_config
from subscriptions.desired import subscription_group
from subscriptions.gate import inherited_positions
from subscriptions.kafka_topics import create_topics
from tests.kafka_io import new_id


def _commit(group: str, *positions: TopicPartition) -> None:
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    consumer.commit(offsets=list(positions), asynchronous=False)
    consumer.close()


def test_the_gate_takes_over_the_subscriptions_positions_once(stack):
    topic, gate_group = new_id("public-topic"), new_id("gate-group")
    create_topics({topic: 3})  # and waits until its partitions have leaders
    # Restate's subscription had taken in 5 records of partition 0 and 2 of partition 1, none of 2;
    # the gate had already made its own way on partition 1.
    _commit(subscription_group(topic), TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 2))
    _commit(gate_group, TopicPartition(topic, 1, 9))
    gate = Consumer(client_config(**{"group.id": gate_group, "enable.auto.commit": False}))
    try:
        # Partition 1 keeps the gate's own offset; partition 2 starts from the beginning, as on a new stack.
        assert inherited_positions(gate, [topic]) == {(topic, 0): 5}
        gate.commit(offsets=[TopicPartition(topic, 0, 6)], asynchronous=False)  # its first transaction
        assert inherited_positions(gate, [topic]) == {}  # the next start changes nothing
    finally:
        gate.close()
