"""The topic gate on a stack that ran without it: it starts where Restate's subscriptions had got to on
the public topics, so their history is neither copied nor run again (subscriptions/gate.py)."""

from __future__ import annotations

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from agentpipe.kafka_publisher import client_config
from subscriptions.desired import subscription_group
from subscriptions.gate import adopt_positions
from tests.kafka_io import new_id


def _commit(group: str, *positions: TopicPartition) -> None:
    consumer = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    consumer.commit(offsets=list(positions), asynchronous=False)
    consumer.close()


def _committed(admin: AdminClient, group: str, topic: str) -> dict[int, int]:
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(3)])]
    answer = admin.list_consumer_group_offsets(request)[group].result()
    return {tp.partition: tp.offset for tp in answer.topic_partitions if tp.offset >= 0}


def test_the_gate_takes_over_the_subscriptions_positions_once(stack):
    admin = AdminClient(client_config())
    topic, gate = new_id("public-topic"), new_id("gate-group")
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(30)
    # Restate's subscription had taken in 5 records of partition 0 and 2 of partition 1, none of 2;
    # the gate had already made its own way on partition 1.
    _commit(subscription_group(topic), TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 2))
    _commit(gate, TopicPartition(topic, 1, 9))

    adopted = adopt_positions(admin, gate, [topic])

    assert [(tp.partition, tp.offset) for tp in adopted] == [(0, 5)]
    assert _committed(admin, gate, topic) == {0: 5, 1: 9}  # partition 2: from the start, as on a new stack
    assert adopt_positions(admin, gate, [topic]) == []  # the second start changes nothing
