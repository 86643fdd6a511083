"""Request ids on the client side: results are one per (pattern, request id), and waiting for a
sent request takes the result that names that record, not an older one with the same id."""

from __future__ import annotations

import socket

from agentpipe.topics import result_topic
from producers.client import AgentpipeClient
from tests.cli.cli_run import agentpipe, json_lines, one_line_error
from tests.kafka_io import new_id, produce, result_reader, send_request, wait_for_results


def fake_result(request_id: str, pattern: str, output: str, offset: int) -> dict:
    return {
        "request_id": request_id,
        "pattern": pattern,
        "status": "ok",
        "output": output,
        "error": None,
        "source": {"topic": f"agent.requests.{pattern}", "partition": 0, "offset": offset},
        "replay_of": None,
        "completed_at": "2026-01-01T00:00:00.000Z",
    }


def test_wait_takes_the_result_of_the_record_it_sent(stack):
    client = AgentpipeClient()
    request_id = new_id("reused")
    with client.watch_results(["chaining"]) as results:
        sent = client.send("chaining", {"message": "Revenue grew by 7%."}, request_id=request_id)
        # An older request with the same id answers first (its offset is not the one just sent).
        produce(result_topic("chaining"), fake_result(request_id, "chaining", "an older answer", sent.offset + 10_000))
        result = results.wait_for_sent([sent], timeout=60)[request_id]
    assert result.source is not None
    assert (result.source.topic, result.source.partition, result.source.offset) == (
        sent.topic,
        sent.partition,
        sent.offset,
    )
    assert "| revenue growth | 7% |" in result.output


def test_results_are_one_per_pattern_and_request_id(stack):
    request_id = new_id("shared")
    for pattern in ("chaining", "orchestrator"):
        produce(result_topic(pattern), fake_result(request_id, pattern, f"from {pattern}", 1))
        produce(result_topic(pattern), fake_result(request_id, pattern, f"from {pattern}", 1))  # a repeat
    proc = agentpipe(
        "results", "--pattern", "chaining", "--pattern", "orchestrator", "--request-id", request_id, "--last", "20"
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(r["pattern"] for r in json_lines(proc.stdout)) == ["chaining", "orchestrator"]


def test_an_admin_api_that_does_not_answer_is_a_timeout_not_unreachable():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # connections are accepted by the kernel; nothing ever answers
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        proc = agentpipe(
            "status",
            "some-id",
            env={"AGENTPIPE_RESTATE_ADMIN_URL": url, "AGENTPIPE_CLIENT_ADMIN_TIMEOUT_S": "1"},
            timeout=60,
        )
    assert proc.returncode == 4, proc.stderr
    assert "did not answer in time" in one_line_error(proc)


def test_status_finds_a_request_by_id_where_it_ran(stack):
    """A pattern's request runs under its id's claim (RequestIds), a chat message in its session."""
    session = new_id("status-chat")
    with result_reader("chaining", "chat") as reader:
        chained = send_request("chaining", {"message": "Revenue grew by 7%."})
        chatted = send_request("chat", {"message": "hello"}, key=session)
        wait_for_results("chaining", [chained], reader)
        wait_for_results("chat", [chatted], reader)
    for request_id, target in (
        (chained, f"RequestIds/chaining:{chained}/chaining"),
        (chatted, f"Chat/{session}/ingest"),
    ):
        proc = agentpipe("status", request_id)
        assert proc.returncode == 0, proc.stderr
        [status] = json_lines(proc.stdout)
        assert status["state"] == "done" and status["invocation_id"].startswith("inv_"), status
        assert status.get("target") == target, status
