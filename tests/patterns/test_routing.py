"""Multi-agent and remote agent routing through Kafka: the expected route and the specialist's answer."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from agentpipe.settings import get_settings
from stack.probes import http_ok
from tests.kafka_io import result_reader, send_request, wait_for_results

QUESTIONS = {
    "billing": "I was charged twice on my invoice and want a refund.",
    "account": "I cannot log in, my password reset email never arrives.",
    "product": "Does the dashboard have a feature to export charts?",
}


@pytest.mark.parametrize("pattern", ["agent-routing", "remote-agent-routing"])
def test_each_question_goes_to_the_right_specialist(stack, pattern):
    with result_reader(pattern) as reader:
        ids = {route: send_request(pattern, {"message": q}) for route, q in QUESTIONS.items()}
        results = wait_for_results(pattern, list(ids.values()), reader)
    for route, request_id in ids.items():
        value = results[request_id]["value"]
        assert value["status"] == "ok", value
        assert value["route"] == route
        assert value["output"].startswith(f"[{route}]")


def _remote_agents_pid() -> int:
    status = json.loads((get_settings().state_dir / "status.json").read_text())
    return status["components"]["remote-agents"]["pid"]


def test_remote_routing_survives_a_restart_of_the_remote_deployment(stack):
    pattern = "remote-agent-routing"
    with result_reader(pattern) as reader:
        first = send_request(pattern, {"message": QUESTIONS["account"]})
        assert wait_for_results(pattern, [first], reader)[first]["value"]["route"] == "account"

        old_pid = _remote_agents_pid()
        psutil.Process(old_pid).kill()
        # The request is sent while the remote deployment is down; Restate retries the call.
        second = send_request(pattern, {"message": QUESTIONS["product"]})
        value = wait_for_results(pattern, [second], reader, timeout=90)[second]["value"]
    assert value["status"] == "ok", value
    assert value["route"] == "product" and value["output"].startswith("[product]")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (_remote_agents_pid() not in (None, old_pid)):
        time.sleep(0.2)
    assert _remote_agents_pid() not in (None, old_pid)
    assert http_ok(f"http://127.0.0.1:{get_settings().remote_agents_port}/health")
