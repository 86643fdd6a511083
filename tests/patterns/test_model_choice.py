"""A request may choose its model (from the allow-list) and temperature; the result names the model."""

from __future__ import annotations

from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic
from offline_model.client import OfflineModelControl
from tests.conftest import SECOND_MODEL
from tests.kafka_io import request_and_wait, result_reader, send_request, wait_for_results


def test_a_request_runs_on_the_model_it_names(stack):
    value = request_and_wait("chaining", {"message": "Revenue grew by 9%.", "model": SECOND_MODEL, "temperature": 0.2})
    assert value["status"] == "ok" and value["usage"]["model"] == SECOND_MODEL
    calls = OfflineModelControl(get_settings().offline_model_url).calls(request_id=value["request_id"])
    assert len(calls) == 3


def test_the_default_model_is_named_when_none_is_chosen(stack):
    value = request_and_wait("chaining", {"message": "Revenue grew by 8%."})
    assert value["usage"]["model"] == get_settings().llm_model


def test_a_model_outside_the_allow_list_is_dead_lettered(stack):
    with result_reader("chaining") as reader:
        request_id = send_request("chaining", {"message": "hi", "model": "gpt-unlisted"})
        marker = send_request("chaining", {"message": "after it"})
        wait_for_results("chaining", [marker], reader)
        reader.collect(
            lambda seen: any(r["topic"] == dead_letters_topic() and "gpt-unlisted" in r["value"]["error"] for r in seen)
        )
    letter = next(
        r["value"] for r in reader.seen if r["topic"] == dead_letters_topic() and "gpt-unlisted" in r["value"]["error"]
    )
    assert "is not allowed" in letter["error"] and SECOND_MODEL in letter["error"]
    assert not [
        r for r in reader.seen if r["value"].get("request_id") == request_id and r["topic"] != dead_letters_topic()
    ]
