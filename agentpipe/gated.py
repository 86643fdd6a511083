"""Copies of keyed-topic records made by the gate (subscriptions/gate.py): their topic and their envelope.

Restate forwards no Kafka record headers to a handler, so a copy carries the coordinates of the
record its user produced in its value, on a first line the intake strips (handlers/intake.py).
"""

from __future__ import annotations

from agentpipe.messages import Source

GATED_SUFFIX = ".gated"
SOURCE_LINE = b"agentpipe-source: "


def gated_topic(topic: str) -> str:
    return f"{topic}{GATED_SUFFIX}"


def is_gated(topic: str) -> bool:
    return topic.endswith(GATED_SUFFIX)


def wrap(source: Source, value: bytes | None) -> bytes:
    """A copy's value: a line naming the original record, then its value as it was."""
    return SOURCE_LINE + source.coordinates().encode() + b"\n" + (value or b"")


def unwrap(raw: bytes) -> tuple[Source, bytes]:
    """The original record's coordinates and value of a copy made by ``wrap``."""
    if not raw.startswith(SOURCE_LINE):
        raise ValueError("not a gated record: it has no source line")
    line, newline, value = raw.partition(b"\n")
    if not newline:
        raise ValueError("not a gated record: its source line does not end")
    topic, partition, offset = line[len(SOURCE_LINE) :].decode("utf-8").rsplit("/", 2)
    return Source(topic=topic, partition=int(partition), offset=int(offset)), value
