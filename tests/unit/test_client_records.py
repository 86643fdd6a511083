"""The client's view of a record value (producers/broker.py): anything on a topic, whatever its shape."""

from __future__ import annotations

import pytest

from producers.broker import Record


def record(value: bytes | None) -> Record:
    return Record(
        topic="agent.results.chaining", partition=0, offset=7, key=b"k", value=value, headers={}, timestamp_ms=None
    )


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (b'{"request_id": "r-1"}', {"request_id": "r-1"}),
        (b"[1, 2]", [1, 2]),
        (None, None),
        (b"not json", None),
        (b"\xff\xfe binary", None),
        (b"", None),
    ],
)
def test_the_value_as_json_or_none(value, parsed):
    assert record(value).json() == parsed


def test_a_value_nested_too_deeply_is_not_json():
    assert record(b"[" * 50_000 + b"]" * 50_000).json() is None
