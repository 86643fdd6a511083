"""A consumer group's committed offsets, read from the outside."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, TopicPartition

from agentpipe.kafka_config import client_config


def committed_offsets(group: str, partitions: list[TopicPartition], timeout: float, **extra: Any) -> dict[int, int]:
    """Per partition, the offset ``group`` committed (negative where none), read through a consumer of the
    group that does not join it, so its members are not disturbed. ``extra`` goes to client_config.

    Not the admin client's list_consumer_group_offsets: librdkafka 2.16 crashed the process (SIGSEGV
    in rd_kafka_cgrp_op from rd_kafka_handle_OffsetFetch) on its answer while a new cluster's group
    coordinators were still loading."""
    reader = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}, **extra))
    try:
        return {tp.partition: tp.offset for tp in reader.committed(partitions, timeout=timeout)}
    finally:
        reader.close()
