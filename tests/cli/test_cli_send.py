"""`agentpipe send`: the request on its topic carries the id in the body; --wait prints the result."""

from __future__ import annotations

import json

from agentpipe.topics import request_topic
from producers.client import AgentpipeClient
from tests.cli.cli_run import agentpipe, json_lines
from tests.kafka_io import TopicReader, new_id, result_reader, wait_for_results


def request_record(source: dict) -> dict:
    """The request record a result names in its ``source``."""
    with TopicReader.open([source["topic"]], from_beginning=True) as reader:
        seen = reader.collect(
            lambda rs: any(r["partition"] == source["partition"] and r["offset"] == source["offset"] for r in rs),
            timeout=30,
        )
    return next(r for r in seen if r["partition"] == source["partition"] and r["offset"] == source["offset"])


def test_send_wait_prints_the_result_and_the_request_carries_its_id(stack):
    request_id = new_id("cli-send")
    proc = agentpipe(
        "send", "chaining", "--message", "Revenue grew by 12%. Churn is at 3%.", "--request-id", request_id, "--wait"
    )
    assert proc.returncode == 0, proc.stderr
    [result] = json_lines(proc.stdout)  # piped: one JSON line
    assert result["request_id"] == request_id and result["status"] == "ok"
    assert "| revenue growth | 12% |" in result["output"]
    record = request_record(result["source"])
    assert record["topic"] == request_topic("chaining")
    assert record["value"]["request_id"] == request_id  # in the body: the ingress drops record headers
    assert record["value"]["message"] == "Revenue grew by 12%. Churn is at 3%."


def test_send_without_wait_prints_only_the_id_and_the_result_follows(stack):
    with result_reader("tool-routing", dead_letters=False) as reader:
        proc = agentpipe("send", "tool-routing", "--json", "-", stdin=json.dumps({"user_id": "user-7"}))
        assert proc.returncode == 0, proc.stderr
        request_id = proc.stdout.strip()
        assert request_id and "\n" not in request_id
        record = wait_for_results("tool-routing", [request_id], reader)[request_id]
    assert record["value"]["status"] == "ok"
    assert "user-7" in record["value"]["output"]


def test_chat_through_the_client_api_keeps_the_session(stack):
    client = AgentpipeClient()
    session = new_id("cli-chat")
    first = client.request("chat", {"message": "My name is Ada."}, key=session, timeout=60)
    second = client.request("chat", {"message": "What is my name?"}, key=session, timeout=60)
    assert first is not None and second is not None
    assert first.status == second.status == "ok"
    assert first.session_id == second.session_id == session
    assert "Turn 2" in second.output
