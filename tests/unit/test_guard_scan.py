"""The ingress guard's scan (subscriptions/guard.py) on records served from memory.

What it skips is committed as the partition's new position, so every valid record it skips with
the poison is lost unless Restate took it in first.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from subscriptions.desired import Subscription
from subscriptions.guard import IngressGuard

POISON = b"key-\xff\xfe"


@dataclass
class Message:
    at: int
    k: bytes

    def offset(self) -> int:
        return self.at

    def key(self) -> bytes:
        return self.k

    def value(self) -> bytes:
        return b'{"message": "hi"}'

    def error(self) -> None:
        return None


def guard_over(keys: dict[int, bytes]) -> IngressGuard:
    guard = object.__new__(IngressGuard)  # no Kafka clients: the records come from ``keys``

    def read(topic: str, partition: int, offset: int, count: int) -> list[Message]:
        return [Message(at, keys[at]) for at in sorted(keys) if offset <= at < offset + count]

    guard.read = read  # type: ignore[method-assign]
    return guard


CHAT = Subscription("agent.requests.chat", "ChatSession", "ingest", keyed=True)


def test_the_poison_at_a_stuck_position_is_skipped_with_the_poison_right_after_it():
    guard = guard_over({10: POISON, 11: POISON, 12: b"session-1", 13: POISON})
    assert guard.scan(CHAT, 0, 10) == (
        [10, 11],
        "record key is not valid UTF-8, so Restate cannot address a Virtual Object with it",
    )


def test_a_clean_partition_gives_nothing_to_skip():
    assert guard_over({10: b"session-1", 11: b"session-2"}).scan(CHAT, 0, 10)[0] == []


@pytest.mark.xfail(
    strict=True,
    reason="the scan skips the first poison found anywhere after a position that did not move for a "
    "second, and the guard commits past it: the valid records before it are lost when Restate had not "
    "taken them in yet (a subscription re-created by an earlier heal is still joining its group). "
    "Seen once end to end: poison keys on four partitions of the chat topic between chat turns left "
    "records without a result or a dead letter after 240 s (lost or only late: not told apart yet). "
    "Not a fix: waiting for the position to rest on the poison (Restate's consumer fails before the "
    "offsets of the records it handed on are stored, so most positions stop one record short), nor "
    "counting its restarts as new group members (describe shows none while it fails every 0.3 s)",
)
def test_no_valid_record_before_the_poison_is_skipped_without_proof_restate_took_it():
    guard = guard_over({10: b"session-1", 11: b"session-2", 12: POISON, 13: b"session-3"})
    assert guard.scan(CHAT, 0, 10)[0] == []
