"""What a pattern's ingest hands to its request id's object survives the trip (handlers/intake.py)."""

from __future__ import annotations

import pytest

from agentpipe.messages import Source
from handlers.catalog import PATTERNS
from handlers.intake import HandedRequest, parse_request
from handlers.request_ids import fingerprint

UNKEYED = [name for name, pattern in PATTERNS.items() if not pattern.keyed]


@pytest.mark.parametrize("name", UNKEYED)
def test_every_patterns_request_reads_back_as_itself(name: str) -> None:
    model = PATTERNS[name].request
    source = Source(topic=f"agent.requests.{name}", partition=3, offset=41)
    raw = '{"message": "Ümsatz \\u2014 q3 \\ud83d\\udcc8", "temperature": 0.25}'.encode()
    request = parse_request(raw, model, source)
    handed = HandedRequest(
        request=request.model_dump(mode="json"), fingerprint=fingerprint(request), record_key="k", record=raw
    )
    back = HandedRequest.model_validate_json(handed.model_dump_json().encode())
    again = model.model_validate(back.request)
    assert again == request and fingerprint(again) == back.fingerprint
    assert again.request_id == "agent.requests." + name + "/3/41" and again.source == source
    assert back.record == raw and back.record_key == "k"


def test_record_bytes_that_are_not_utf8_travel_as_base64() -> None:
    handed = HandedRequest(request={}, fingerprint="f", record=b"\xff\xfe{}")
    assert HandedRequest.model_validate_json(handed.model_dump_json()).record == b"\xff\xfe{}"
