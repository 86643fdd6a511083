"""The pattern handlers also answer over Restate's HTTP ingress, and still publish their result."""

from __future__ import annotations

import pytest

from handlers.catalog import PATTERNS
from tests.kafka_io import new_id, result_reader, wait_for_results
from tests.restate_api import ingress


def test_chaining_over_http_returns_and_publishes_the_result(stack):
    request_id = new_id("http")
    with result_reader("chaining") as reader:
        value = ingress("CallChainingService/run", {"request_id": request_id, "message": "Churn is at 4%."})
        published = wait_for_results("chaining", [request_id], reader)[request_id]["value"]
    assert value["status"] == "ok" and "| churn" in value["output"].lower()
    assert value["source"] is None  # did not come from Kafka
    assert published == value


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if p not in ("human-in-the-loop", "chat")])
def test_every_service_answers_an_empty_request_over_http(stack, pattern):
    spec = PATTERNS[pattern]
    value = ingress(f"{spec.service}/{spec.handler}", {})
    assert value["status"] == "ok" and value["pattern"] == pattern
    assert value["request_id"].startswith("inv_")  # no id given: the invocation id


def test_chat_over_http_uses_the_path_key_as_session(stack):
    session = new_id("http-chat")
    value = ingress(f"Chat/{session}/message", {"message": "hi there"})
    assert value["session_id"] == session and "hi there" in value["output"]
    assert [m["role"] for m in ingress(f"Chat/{session}/history")] == ["user", "assistant"]


def test_request_id_header_is_used_over_http(stack):
    import httpx

    from agentpipe.settings import get_settings

    request_id = new_id("header-id")
    response = httpx.post(
        f"{get_settings().restate_ingress_url}/CallChainingService/run",
        json={},
        headers={"request-id": request_id},
        timeout=30,
    )
    response.raise_for_status()
    assert response.json()["request_id"] == request_id
