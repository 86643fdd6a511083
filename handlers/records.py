"""Decoding raw Kafka records strictly: anything odd is a RejectedRecord with a reason a person can act on.

Records are hostile until decoded. Besides "not JSON" and "too large" this
refuses what Python's json module would accept but could break later or
mean two things: NaN and Infinity, duplicate keys, nesting too deep for the
parser, integers too long to convert, and strings with lone surrogates
(they parse, but cannot be written out as UTF-8 again).
"""

from __future__ import annotations

import json
from typing import Any


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


def decode_json(raw: bytes, limit: int, what: str = "record value") -> Any:
    """The JSON value of ``raw``; raises RejectedRecord for anything else."""
    if len(raw) > limit:
        raise RejectedRecord(f"{what} is {len(raw)} bytes, over the limit of {limit} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedRecord(f"{what} is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except RejectedRecord:
        raise
    except json.JSONDecodeError as exc:
        raise RejectedRecord(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise RejectedRecord(f"{what} is nested too deeply to decode") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise RejectedRecord(f"{what} cannot be decoded: {printable(str(exc))}") from None
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
