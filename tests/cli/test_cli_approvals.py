"""`agentpipe approvals / approve / reject` and `status`: a moderation waits for a person, the CLI decides it."""

from __future__ import annotations

import time

from agentpipe.messages import approval_signature
from agentpipe.settings import get_settings
from agentpipe.topics import approvals_topic
from tests.cli.cli_run import agentpipe, json_lines, one_line_error
from tests.kafka_io import TopicReader, new_id

HITL = "human-in-the-loop"


def pending_approval(request_id: str, timeout: float = 60) -> dict:
    """Send nothing; poll `agentpipe approvals` until the request's approval shows up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = agentpipe("approvals")
        assert proc.returncode == 0, proc.stderr
        mine = [a for a in json_lines(proc.stdout) if a["request_id"] == request_id]
        if mine:
            return mine[0]
        time.sleep(0.3)
    raise TimeoutError(f"no pending approval for {request_id}")


def waiting_moderation() -> tuple[str, dict]:
    """A moderation of the example content ({}), which asks for a human decision."""
    request_id = new_id("cli-hitl")
    assert agentpipe("send", HITL, "--request-id", request_id).returncode == 0
    return request_id, pending_approval(request_id)


def status_of(request_id: str) -> dict:
    proc = agentpipe("status", request_id)
    assert proc.returncode == 0, proc.stderr
    return json_lines(proc.stdout)[0]


def test_approve_resumes_the_waiting_moderation(stack):
    request_id, approval = waiting_moderation()
    status = status_of(request_id)
    assert status["state"] == "waiting for approval"
    assert status["approval_id"] == approval["approval_id"]
    assert status["invocation_id"].startswith("inv_") and status["journal_size"] > 0

    proc = agentpipe("approve", approval["approval_id"], "--comment", "satire is fine", "--reviewer", "ada", "--wait")
    assert proc.returncode == 0, proc.stderr
    [result] = json_lines(proc.stdout)
    assert result["request_id"] == request_id and result["status"] == "ok"
    assert result["output"] == "approved by ada: satire is fine"

    # The event on the topic is signed with the stack's key.
    with TopicReader.open([approvals_topic()], from_beginning=True) as reader:
        events = reader.collect(lambda rs: any(r["key"] == approval["approval_id"] for r in rs), timeout=30)
    event = next(r["value"] for r in events if r["key"] == approval["approval_id"])
    assert event["signature"] == approval_signature(get_settings().approval_secret, approval["approval_id"], "approved")

    assert status_of(request_id)["state"] == "done"
    assert approval["approval_id"] not in agentpipe("approvals").stdout
    again = agentpipe("approve", approval["approval_id"])
    assert again.returncode == 1 and "already approved" in one_line_error(again)


def test_reject_ends_the_moderation_rejected(stack):
    _request_id, approval = waiting_moderation()
    proc = agentpipe("reject", approval["approval_id"], "--comment", "tax advice", "--reviewer", "bob", "--wait")
    assert proc.returncode == 1, proc.stderr  # the request ended, but not ok
    [result] = json_lines(proc.stdout)
    assert result["status"] == "rejected" and result["output"] == "rejected by bob: tax advice"


def test_unknown_approval_id_is_not_found(stack):
    proc = agentpipe("approve", "approval-does-not-exist")
    assert proc.returncode == 5
    assert "no approval request" in one_line_error(proc)


def test_cancel_stops_a_waiting_moderation(stack):
    request_id, approval = waiting_moderation()
    proc = agentpipe("cancel", request_id)
    assert proc.returncode == 0, proc.stderr
    assert json_lines(proc.stdout)[0]["state"] == "cancelled"

    status = status_of(request_id)
    assert status["state"] == "cancelled" and status["restate_status"] == "completed"
    results = json_lines(agentpipe("results", "--pattern", HITL, "--request-id", request_id).stdout)
    assert [(r["status"], r["error"]) for r in results] == [("error", "cancelled")]
    assert approval["approval_id"] not in agentpipe("approvals").stdout  # its request has ended

    again = agentpipe("cancel", request_id)
    assert again.returncode == 1 and "nothing to cancel" in one_line_error(again)


def test_status_of_an_unknown_request_is_not_found(stack):
    proc = agentpipe("status", "no-such-request")
    assert proc.returncode == 5
    assert "no invocation" in one_line_error(proc)
