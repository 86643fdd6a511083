"""RoundRobin stands in for priority.PriorityTree inside hypercorn's HTTP/2 protocol.

Checked against the real tree: the same errors for the same calls, only unblocked streams
are ever chosen, every one of them in turn; and against the installed hypercorn: everything
it takes from the ``priority`` module is provided.
"""

from __future__ import annotations

import inspect
import random
import re

import hypercorn.protocol.h2 as h2_protocol
import priority
import pytest

from handlers.h2_send_order import SCHEDULING, RoundRobin, use_round_robin


def test_everything_hypercorn_takes_from_priority_is_provided() -> None:
    source = inspect.getsource(h2_protocol)
    names = set(re.findall(r"(?<![.\w])priority\.(\w+)", source))
    calls = set(re.findall(r"self\.priority\.(\w+)", source))
    assert "PriorityTree" in names and calls, "hypercorn schedules sends differently now: check h2_send_order"
    assert names <= set(vars(SCHEDULING)), f"missing from the module: {names - set(vars(SCHEDULING))}"
    assert all(hasattr(RoundRobin, call) for call in calls), f"RoundRobin lacks some of {calls}"
    assert "next(self.priority)" in source


def test_installed_into_hypercorn() -> None:
    before = h2_protocol.priority
    try:
        use_round_robin()
        assert isinstance(h2_protocol.priority.PriorityTree(), RoundRobin)
    finally:
        h2_protocol.priority = before


def test_unblocked_streams_take_turns() -> None:
    order = RoundRobin()
    for stream in (1, 3, 5):
        order.insert_stream(stream)
    assert [next(order) for _ in range(6)] == [1, 3, 5, 1, 3, 5]
    order.block(3)
    assert [next(order) for _ in range(4)] == [1, 5, 1, 5]
    order.unblock(3)
    order.unblock(1)  # already waiting: keeps its place
    assert [next(order) for _ in range(3)] == [1, 5, 3]
    for stream in (1, 3, 5):
        order.block(stream)
    with pytest.raises(priority.DeadlockError):
        next(order)


def test_bounded_like_the_tree() -> None:
    order = RoundRobin(maximum_streams=2)
    order.insert_stream(1)
    order.insert_stream(3)
    with pytest.raises(priority.TooManyStreamsError):
        order.insert_stream(5)
    order.remove_stream(1)
    order.insert_stream(5)


def _call(tree: object, op: str, stream: int) -> str:
    try:
        if op == "insert":
            tree.insert_stream(stream)  # type: ignore[attr-defined]
        elif op == "reprioritize":
            tree.reprioritize(stream, weight=32)  # type: ignore[attr-defined]
        else:
            getattr(tree, op)(stream)
    except Exception as exc:  # noqa: BLE001 - the error's type is what is compared
        return type(exc).__name__
    return "ok"


@pytest.mark.parametrize("seed", range(20))
def test_same_errors_and_choices_as_the_tree(seed: int) -> None:
    rng = random.Random(seed)
    tree, ours = priority.PriorityTree(), RoundRobin()
    unblocked: set[int] = set()
    for _ in range(300):
        op = rng.choice(["insert", "remove_stream", "block", "unblock", "reprioritize", "next"])
        stream = rng.choice([1, 3, 5, 7, 9, 11])
        if op == "next":
            try:
                expected = next(tree)
            except priority.DeadlockError:
                with pytest.raises(priority.DeadlockError):
                    next(ours)
                assert not unblocked
                continue
            chosen = next(ours)
            assert chosen in unblocked and expected in unblocked
            continue
        outcome = _call(tree, op, stream)
        assert _call(ours, op, stream) == outcome, (op, stream)
        if outcome == "ok":
            if op in ("insert", "unblock"):
                unblocked.add(stream)
            elif op in ("block", "remove_stream"):
                unblocked.discard(stream)
