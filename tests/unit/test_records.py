"""Decoding raw request records (agentpipe/records.py) and reading them in the intake (handlers/intake.py):
valid records, and the hostile ones a topic may carry. The end-to-end catalogue of hostile
records (tests/security/test_hostile_records.py) is run here through the same functions."""

from __future__ import annotations

import base64
import json

import pytest

from agentpipe import requests
from agentpipe.messages import Source
from agentpipe.records import MAX_DEPTH, RejectedRecord, decode_json_object, depth, printable
from agentpipe.requests import ChainingRequest, ChatRequest, ModerationRequest, ToolRoutingRequest
from agentpipe.settings import get_settings
from handlers.catalog import PATTERNS
from handlers.intake import (
    MAX_SESSION_ID_CHARS,
    admissible,
    check_session_key,
    parse_request,
    record_key,
    record_source,
)
from subscriptions.gate import undeliverable
from tests.security.test_hostile_records import DEAD_LETTER, OK, request_cases

LIMIT = 1024
SOURCE = Source(topic="agent.requests.chaining", partition=2, offset=17)


def rejected(raw: bytes, limit: int = LIMIT) -> str:
    with pytest.raises(RejectedRecord) as caught:
        decode_json_object(raw, limit)
    message = str(caught.value)
    message.encode("utf-8")  # every reason can be written to a dead letter
    return message


def headers_of(source: Source, key: bytes | None = None, **extra: str) -> dict[str, str]:
    """What Restate's Kafka ingress passes to a handler: coordinates, the key base64-encoded."""
    headers = {
        "kafka.topic": source.topic,
        "kafka.partition": str(source.partition),
        "kafka.offset": str(source.offset),
        **extra,
    }
    if key is not None:
        headers["kafka.key"] = base64.b64encode(key).decode()
    return headers


# -- decode_json_object ----------------------------------------------------------


def test_a_json_object_decodes_as_it_is():
    raw = json.dumps({"message": "Grüße ✓", "n": 3, "nested": {"list": [1.5, None, True]}}).encode()
    assert decode_json_object(raw, LIMIT) == {"message": "Grüße ✓", "n": 3, "nested": {"list": [1.5, None, True]}}


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n\t "])
def test_an_empty_value_is_an_empty_object(raw):
    assert decode_json_object(raw, LIMIT) == {}


def test_the_size_limit_counts_bytes_and_is_inclusive():
    at_limit = b'{"m": "' + b"a" * (LIMIT - 9) + b'"}'
    assert len(at_limit) == LIMIT and decode_json_object(at_limit, LIMIT)["m"] == "a" * (LIMIT - 9)
    assert rejected(at_limit + b" ") == f"record value is {LIMIT + 1} bytes, over the limit of {LIMIT} bytes"
    # Blank values are empty objects only within the limit.
    assert "over the limit" in rejected(b" " * (LIMIT + 1))


def test_the_size_is_checked_before_anything_is_parsed():
    assert "over the limit" in rejected(b"[" * 100_000)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8: invalid start byte at byte 0"),
        (b'{"message": "\xed\xa0\x80"}', "not valid UTF-8"),  # a surrogate encoded as UTF-8 bytes
        (b'{"message": "caf\xe9"}', "not valid UTF-8"),  # Latin-1
    ],
)
def test_a_value_that_is_not_utf8_is_refused(raw, reason):
    assert reason in rejected(raw)


@pytest.mark.parametrize("raw", [b"not json", b"{not json", b'{"a": 1,}', b"{'a': 1}", b'{"a": 1} {"b": 2}'])
def test_a_value_that_is_not_json_is_refused_with_where(raw):
    reason = rejected(raw)
    assert reason.startswith("record value is not valid JSON:") and " at line 1 column " in reason


@pytest.mark.parametrize(("literal", "name"), [(b"NaN", "NaN"), (b"Infinity", "Infinity"), (b"-Infinity", "-Infinity")])
def test_nan_and_infinity_are_refused(literal, name):
    assert rejected(b'{"n": ' + literal + b"}") == f"{name} is not allowed in JSON records"
    assert "is not allowed" in rejected(b'{"deep": [1, {"n": ' + literal + b"}]}")


@pytest.mark.parametrize(
    "raw", [b'{"message": "a", "message": "b"}', b'{"outer": {"k": 1, "k": 1}}', b'[{"k": 1, "k": 2}]']
)
def test_duplicate_keys_are_refused_at_any_depth(raw):
    assert "duplicate key" in rejected(raw)


def test_a_duplicate_key_is_named_bounded():
    key = "é\ud800" * 200  # escaped in the record; a lone surrogate in Python
    raw = json.dumps({key: 1}).encode()[:-1] + b", " + json.dumps(key).encode() + b": 2}"
    reason = rejected(raw, limit=len(raw))
    assert reason.startswith("duplicate key 'é") and len(reason) < 150


def test_deep_nesting_is_refused():
    raw = b'{"deep": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert rejected(raw, limit=len(raw)) == "record value is nested too deeply to decode"


def test_nesting_beyond_what_the_hand_on_can_carry_is_refused():
    # 220 deep passed Python's decoder and then failed Restate's (limit 200) on the hand-on: no result, no letter.
    raw = b'{"deep": ' + b"[" * 219 + b"]" * 219 + b"}"
    assert rejected(raw) == f"record value is nested 220 deep, over the limit of {MAX_DEPTH}"
    at_limit = b'{"deep": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert depth(decode_json_object(at_limit, LIMIT)) == MAX_DEPTH


def test_depth_counts_containers():
    assert [depth(v) for v in (1, "x", [], {}, [[]], {"a": [1, {"b": None}]})] == [0, 0, 1, 1, 2, 3]


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1.0e309", b"123456789e999"])
def test_a_number_that_only_fits_as_infinity_is_refused(number):
    # Python reads it as inf, which Pydantic passes on and JSON writes out as null (or Infinity).
    assert rejected(b'{"temperature": ' + number + b"}").startswith(f"number {number.decode()} is too large")


def test_large_finite_numbers_pass():
    assert decode_json_object(b'{"x": 1.5e300, "y": -2e-300, "z": 1e308}', LIMIT) == {
        "x": 1.5e300,
        "y": -2e-300,
        "z": 1e308,
    }


def test_an_integer_too_long_to_convert_is_refused():
    raw = b'{"n": ' + b"9" * 5000 + b"}"
    assert rejected(raw, limit=len(raw)).startswith("record value cannot be decoded: ")
    assert decode_json_object(b'{"n": ' + b"9" * 4000 + b"}", LIMIT * 8)["n"] > 0  # long, but convertible


@pytest.mark.parametrize("escaped", [b"\\ud800", b"a\\udfffb", b"\\udc00\\ud800"])
def test_lone_surrogates_are_refused(escaped):
    assert "lone surrogate" in rejected(b'{"message": "' + escaped + b'"}')
    assert "lone surrogate" in rejected(b'{"' + escaped + b'": 1}')


def test_a_surrogate_pair_is_one_character():
    assert decode_json_object(b'{"message": "\\ud83d\\ude00"}', LIMIT) == {"message": "😀"}


@pytest.mark.parametrize(
    ("raw", "kind"), [(b"[1, 2]", "list"), (b"null", "NoneType"), (b'"text"', "str"), (b"42", "int"), (b"true", "bool")]
)
def test_a_value_that_is_not_an_object_is_refused_naming_what_it_is(raw, kind):
    assert rejected(raw) == f"record value must be a JSON object, got {kind}"


# -- printable --------------------------------------------------------------------


def test_printable_escapes_lone_surrogates_and_bounds_the_text():
    assert printable("ok") == "ok"
    assert printable("a\ud800b") == "a\\ud800b"
    assert printable("x" * 300) == "x" * 200 + "…"
    assert printable("x" * 20, limit=20) == "x" * 20
    printable("\udfff" * 500).encode("utf-8")


# -- the intake: record coordinates, key, request -----------------------------------


def test_record_source_reads_the_kafka_coordinates():
    assert record_source(headers_of(SOURCE)) == SOURCE


@pytest.mark.parametrize(
    "headers",
    [
        {},  # called over HTTP, not by a subscription
        {"kafka.topic": "t", "kafka.partition": "0"},
        {"kafka.topic": "t", "kafka.partition": "zero", "kafka.offset": "1"},
        {"kafka.topic": "t", "kafka.partition": "0", "kafka.offset": "1.5"},
    ],
)
def test_record_source_is_none_without_usable_coordinates(headers):
    assert record_source(headers) is None


def test_record_key_decodes_restates_base64_key():
    assert record_key(headers_of(SOURCE, "session-7 ✓".encode())) == "session-7 ✓"
    assert record_key(headers_of(SOURCE, b"")) == ""
    assert record_key(headers_of(SOURCE)) is None


@pytest.mark.parametrize("key", [b"s?>", b"s??", "sitzung-\u00fc~>?".encode(), bytes(range(32, 127))])
def test_record_key_reads_url_safe_base64_as_restate_sends_it(key):
    # Keys whose base64 holds '+' or '/' read the same in either alphabet, padded or not.
    url_safe = base64.urlsafe_b64encode(key).decode()
    assert {"-", "_"} & set(base64.urlsafe_b64encode(b"s?>" + b"s??").decode())
    assert record_key({"kafka.key": url_safe}) == key.decode()
    assert record_key({"kafka.key": url_safe.rstrip("=")}) == key.decode()
    assert record_key({"kafka.key": base64.b64encode(key).decode()}) == key.decode()


@pytest.mark.parametrize("encoded", ["not base64!", "Y", "YW=J", base64.b64encode(b"s-\xff\xfe").decode()])
def test_a_key_that_is_not_base64_of_utf8_is_none(encoded):
    assert record_key({"kafka.key": encoded}) is None


def test_a_session_key_must_be_there_and_bounded():
    assert check_session_key("s" * MAX_SESSION_ID_CHARS) == "s" * MAX_SESSION_ID_CHARS
    for missing in (None, ""):
        with pytest.raises(RejectedRecord, match="chat record has no key"):
            check_session_key(missing)
    with pytest.raises(RejectedRecord, match=f"{MAX_SESSION_ID_CHARS + 1} characters, over {MAX_SESSION_ID_CHARS}"):
        check_session_key("s" * (MAX_SESSION_ID_CHARS + 1))


def test_parse_request_validates_and_keeps_the_records_id_and_source():
    request = parse_request(b'{"request_id": "r-1", "message": "Revenue grew by 7%."}', ChainingRequest, SOURCE)
    assert (request.request_id, request.message, request.source) == ("r-1", "Revenue grew by 7%.", SOURCE)


@pytest.mark.parametrize("claimed", [{"topic": "elsewhere", "partition": 0, "offset": 1}, {"x": 1}, "a/0/1", None])
def test_a_source_in_the_body_is_refused(claimed):
    # Only the intake names a record's coordinates (a dead letter points at them): a claimed one is refused.
    raw = json.dumps({"request_id": "r-1", "source": claimed}).encode()
    with pytest.raises(RejectedRecord, match="source is set by agentpipe"):
        parse_request(raw, ChainingRequest, SOURCE)


def test_a_request_without_an_id_gets_the_header_id_else_its_coordinates():
    assert parse_request(b"{}", ChainingRequest, SOURCE, header_request_id="from-header").request_id == "from-header"
    assert parse_request(b"{}", ChainingRequest, SOURCE).request_id == "agent.requests.chaining/2/17"
    assert parse_request(b"{}", ChainingRequest, None).request_id is None  # HTTP ingress: the handler names it


def test_an_empty_request_runs_the_example():
    assert parse_request(b"", ChainingRequest, SOURCE).message == requests.EXAMPLE_REPORT
    assert parse_request(b"{}", ToolRoutingRequest, SOURCE).message == requests.EXAMPLE_SUPPORT_QUESTION
    assert parse_request(b"{}", ModerationRequest, SOURCE).text == requests.EXAMPLE_CONTENT
    assert parse_request(b"{}", ChatRequest, SOURCE).message == requests.EXAMPLE_CHAT_MESSAGE


def test_fields_the_schema_does_not_know_are_kept():
    request = parse_request(b'{"message": "m", "tenant": "acme"}', ChainingRequest, SOURCE)
    assert request.model_dump()["tenant"] == "acme"


def test_a_request_of_the_wrong_shape_names_the_schema_and_each_field():
    with pytest.raises(RejectedRecord) as caught:
        parse_request(b'{"request_id": 5, "message": ["a"]}', ChainingRequest, SOURCE)
    reason = str(caught.value)
    assert reason.startswith("record value does not match the ChainingRequest schema: ")
    assert "request_id: " in reason and "message: " in reason


def test_a_wrong_shape_reason_is_bounded_and_printable():
    raw = json.dumps({"request_id": "\ud800" * 10_000}).encode()
    with pytest.raises(RejectedRecord) as caught:
        parse_request(raw, ChainingRequest, SOURCE)
    assert "lone surrogate" in str(caught.value)
    raw = json.dumps({"review_timeout_s": "x" * 5000}).encode()
    with pytest.raises(RejectedRecord) as caught:
        parse_request(raw, ModerationRequest, SOURCE)
    assert len(str(caught.value)) < 700
    str(caught.value).encode("utf-8")


# -- the end-to-end catalogue of hostile request records ------------------------------


def _catalogue_names() -> list[str]:
    try:
        return [case.name for case in request_cases()]
    finally:
        get_settings.cache_clear()  # it read the session's settings; each test reads the defaults


@pytest.mark.parametrize("name", _catalogue_names())
def test_the_hostile_record_catalogue(name):
    """What the intake (or, for a key Restate cannot take, the topic gate) makes of each record."""
    case = next(case for case in request_cases() if case.name == name)
    key = case.key if case.key is not None else b"session-1"
    keyed = case.pattern == "chat"

    def outcome() -> str:
        gate = undeliverable(key, case.value) if keyed else None  # it reads the keyed topics only
        if gate:
            raise RejectedRecord(gate)
        headers = headers_of(SOURCE, key)
        if keyed:
            check_session_key(record_key(headers))
        # Restate delivers a record without a value as an empty body.
        parse_request(case.value or b"", PATTERNS[case.pattern].request, record_source(headers))
        return OK

    if case.expect == DEAD_LETTER:
        with pytest.raises(RejectedRecord) as caught:
            outcome()
        assert case.error_contains in str(caught.value)
    else:
        assert outcome() == OK


def test_the_ingest_takes_only_kafka_records():
    # The ingest handlers trust the kafka.* headers; without them there is no record to read.
    with pytest.raises(RejectedRecord, match="not a Kafka record"):
        admissible(b"{}", PATTERNS["chaining"], None, {}, None)


def test_a_chat_record_without_a_session_key_is_not_admitted():
    with pytest.raises(RejectedRecord, match="no key"):
        admissible(b"{}", PATTERNS["chat"], None, {}, SOURCE)


def test_an_admitted_record_carries_its_id_and_source():
    request, _fingerprint = admissible(
        b'{"message": "Revenue grew"}', PATTERNS["chaining"], None, {"request-id": "h-1"}, SOURCE
    )
    assert isinstance(request, ChainingRequest)
    assert (request.request_id, request.source, request.message) == ("h-1", SOURCE, "Revenue grew")
