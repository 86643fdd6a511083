"""Every command has help with an example; bad input and an unreachable stack give one line and a known exit code."""

from __future__ import annotations

import pytest

from tests.cli.cli_run import agentpipe, one_line_error
from tests.ports import free_port

COMMANDS = [
    "up",
    "down",
    "demo",
    "send",
    "results",
    "approvals",
    "approve",
    "reject",
    "replay",
    "compare",
    "status",
    "cancel",
    "subscriptions",
    "subscriptions list",
    "subscriptions sync",
    "schema",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example_and_the_exit_codes(command):
    proc = agentpipe(*command.split(), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "examples:\n  agentpipe " in proc.stdout
    assert "exit codes:" in proc.stdout


def test_unknown_pattern_is_a_usage_error():
    proc = agentpipe("send", "no-such-pattern")
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "unknown pattern 'no-such-pattern'" in line and "chaining" in line


def test_invalid_json_is_a_usage_error():
    proc = agentpipe("send", "chaining", "--json", "-", stdin='{"message": "unterminated')
    assert proc.returncode == 2
    assert "invalid JSON in standard input" in one_line_error(proc)
    proc = agentpipe("send", "chaining", "--json", "-", stdin='["not", "an object"]')
    assert proc.returncode == 2
    assert "must be a JSON object" in one_line_error(proc)


def test_chat_without_a_key_is_a_usage_error():
    proc = agentpipe("send", "chat", "--message", "hi")
    assert proc.returncode == 2
    assert "needs a key" in one_line_error(proc)


@pytest.mark.parametrize(
    "args",
    [
        ["send", "chaining", "--wait"],
        ["replay", "any-topic", "--pattern", "chaining"],
        ["compare", "replay-00000000", "--report", "/nonexistent/never-written.md"],
    ],
)
def test_unreachable_broker_is_one_line_and_exit_3(args):
    proc = agentpipe(
        *args,
        env={"AGENTPIPE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "AGENTPIPE_CLIENT_BROKER_TIMEOUT_S": "1"},
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert "unreachable" in one_line_error(proc)


@pytest.mark.parametrize("args", [["status", "some-id"], ["cancel", "some-id"], ["subscriptions", "list"]])
def test_unreachable_admin_api_is_one_line_and_exit_3(args):
    proc = agentpipe(*args, env={"AGENTPIPE_RESTATE_ADMIN_URL": f"http://127.0.0.1:{free_port()}"})
    assert proc.returncode == 3, proc.stderr
    assert "Restate admin API" in one_line_error(proc)
