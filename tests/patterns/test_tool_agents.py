"""Tool routing and parallel tools through Kafka: the agent loop, tools as their own journaled steps."""

from __future__ import annotations

from agentpipe.settings import get_settings
from offline_model.client import OfflineModelControl
from tests.kafka_io import new_id, request_and_wait
from tests.restate_api import invocation_of, journal


def model() -> OfflineModelControl:
    return OfflineModelControl(get_settings().offline_model_url)


def test_tool_routing_looks_up_the_user_finds_the_outage_and_opens_a_ticket(stack):
    value = request_and_wait("tool-routing", {"user_id": "user-7", "message": "My API calls fail. Why?"})
    request_id = value["request_id"]
    assert value["status"] == "ok", value
    assert "TCK-" in value["output"] and "degraded" in value["output"]
    tool_calls = [c["tool_calls"] for c in model().calls(request_id=request_id)]
    assert tool_calls[0] == ["query_user_database", "fetch_service_status"]
    assert tool_calls[1] == ["create_support_ticket"]
    assert tool_calls[-1] == []  # the loop ends on an answer without tool calls
    steps = [e["name"] for e in journal(invocation_of("tool-routing", request_id)["id"]) if e["name"]]
    assert "create_support_ticket(user-7, My API calls fail. Why?)"[:20] in " ".join(steps)
    assert any(s.startswith("query_user_database(user-7") for s in steps)


def test_parallel_tools_run_one_weather_step_per_city_concurrently(stack):
    value = request_and_wait("parallel-tools", {"message": "Weather in Paris, Oslo and Lima please"})
    request_id = value["request_id"]
    assert value["status"] == "ok", value
    assert [line.split(":")[0] for line in value["output"].splitlines()] == ["Paris", "Oslo", "Lima"]

    entries = journal(invocation_of("parallel-tools", request_id)["id"])
    weather = [e["index"] for e in entries if (e["name"] or "").startswith("get_weather(")]
    assert len(weather) == 3
    first_completion = min(
        e["index"] for e in entries if e["entry_type"] == "Notification: Run" and e["index"] > min(weather)
    )
    # All three steps were started before any finished: they overlapped in time.
    assert max(weather) < first_completion, entries


def test_a_malformed_tool_call_goes_back_to_the_model_and_the_request_still_completes(stack):
    control = model()
    request_id = new_id("malformed-args")
    control.malformed_tool_args(1, match=request_id)
    value = request_and_wait("parallel-tools", {"request_id": request_id, "message": "Weather in Rome and Cairo"})
    assert value["status"] == "ok", value
    assert "Rome" in value["output"] and "Cairo" in value["output"]
    assert any(c["fault"] for c in control.calls(request_id=request_id))
