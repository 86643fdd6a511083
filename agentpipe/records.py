"""Decoding raw Kafka records strictly: anything odd is a RejectedRecord with a reason a person can act on.

Records are hostile until decoded. Besides "not JSON" and "too large" this
refuses what Python's json module would accept but could break later or
mean two things: NaN and Infinity (and numbers like 1e400 that only fit as
infinity), duplicate keys, nesting deeper than MAX_DEPTH, integers too long
to convert, and strings with lone surrogates (they parse, but cannot be
written out as UTF-8 again).

The client reads records with the same rules (producers/broker.py), so what
the pipeline refuses, a replay or a comparison skips and counts.
"""

from __future__ import annotations

import json
import math
from typing import Any

# How deep a record may nest. The intake hands a request on inside a few envelopes, and Restate's SDK
# refuses JSON nested beyond 200 when it reads a handler's input: a record nested 190 deep would pass
# here and then fail the hand-on, with neither a result nor a dead letter.
MAX_DEPTH = 64


class RejectedRecord(Exception):
    """A record that can never be processed; it goes to the dead-letter topic."""


def printable(text: str, limit: int = 200) -> str:
    """Text from a record, safe to put into an error message (no lone surrogates, bounded)."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[:limit] + "…"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise RejectedRecord(f"duplicate key {printable(repr(key), 80)} in the JSON object")
        body[key] = value
    return body


def _no_constants(name: str) -> Any:
    raise RejectedRecord(f"{name} is not allowed in JSON records")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RejectedRecord(f"number {printable(text, 40)} is too large (it only fits as infinity)")
    return value


def depth(value: Any) -> int:
    """How deep ``value`` nests: a scalar is 0, ``[]`` and ``{}`` are 1 (iterative: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
            deepest = max(deepest, level + 1)
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
            deepest = max(deepest, level + 1)
    return deepest


def decode_json(raw: bytes, limit: int, what: str = "record value") -> Any:
    """The JSON value of ``raw``; raises RejectedRecord for anything else."""
    if len(raw) > limit:
        raise RejectedRecord(f"{what} is {len(raw)} bytes, over the limit of {limit} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedRecord(f"{what} is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants, parse_float=_finite)
    except RejectedRecord:
        raise
    except json.JSONDecodeError as exc:
        raise RejectedRecord(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise RejectedRecord(f"{what} is nested too deeply to decode") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise RejectedRecord(f"{what} cannot be decoded: {printable(str(exc))}") from None
    if depth(value) > MAX_DEPTH:
        raise RejectedRecord(f"{what} is nested {depth(value)} deep, over the limit of {MAX_DEPTH}")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedRecord(f"{what} contains a lone surrogate (\\ud800-\\udfff) in a string") from None
    except (RecursionError, ValueError) as exc:
        raise RejectedRecord(f"{what} cannot be encoded again: {printable(str(exc))}") from None
    return value


def decode_json_object(raw: bytes, limit: int, what: str = "record value") -> dict[str, Any]:
    """Like decode_json, for values that must be a JSON object; an empty value is ``{}``."""
    if raw.strip() or len(raw) > limit:
        value = decode_json(raw, limit, what)
    else:
        return {}
    if not isinstance(value, dict):
        raise RejectedRecord(f"{what} must be a JSON object, got {type(value).__name__}")
    return value
