"""Records of any shape on the topics the CLI reads: skipped and counted, never a traceback;
text from a record is printed as itself, rich markup included."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from agentpipe.topics import approval_requests_topic, approvals_topic, dead_letters_topic, result_topic
from producers import cli
from producers.commands import stack as stack_commands
from tests.cli.cli_run import COMMAND, ROOT, agentpipe, json_lines
from tests.kafka_io import new_id, produce

MARKUP = "[/] [bold]not bold[/bold] [link=x]"
# Each is a record value a result topic might carry; none is a result.
MALFORMED = [
    b"not json at all",
    b"\xff\xfe\x00 binary",
    b'["a", "list"]',
    b'"just a string"',
    b"{}",
    b'{"request_id": 42, "pattern": "chaining", "status": "ok"}',
    b'{"request_id": "x", "pattern": "chaining"}',
    b'{"request_id": "x", "pattern": "chaining", "status": "ok", "output": {"a": 1}}',
    b'{"request_id": "x", "pattern": "chaining", "status": "ok", "source": {"topic": 1}}',
    b'{"request_id": "x", "pattern": "chaining", "status": ["ok"]}',
    None,
]


def markup_result(request_id: str) -> dict:
    return {
        "request_id": request_id,
        "pattern": "chaining",
        "status": "ok",
        "output": f"out {MARKUP}",
        "error": None,
        "route": MARKUP,
        "replay_of": "[/]",
        "completed_at": "2026-01-01T00:00:00.000Z",
        "source": None,
    }


@pytest.fixture
def bad_results(stack) -> str:
    """Malformed records among results, and a valid result whose every string is rich markup."""
    topic = result_topic("chaining")
    for value in MALFORMED:
        produce(topic, value)
    request_id = new_id("markup")
    produce(topic, markup_result(request_id))
    return request_id


def test_results_skips_and_counts_malformed_records(bad_results):
    proc = agentpipe("results", "--pattern", "chaining", "--last", "50", "--verbose", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    [shown] = [r for r in json_lines(proc.stdout) if r["request_id"] == bad_results]
    # Printed as the contract's result: the record's fields as they were, absent ones at their defaults.
    assert {k: shown[k] for k in markup_result(bad_results)} == markup_result(bad_results)
    skipped = int(next(line for line in proc.stderr.splitlines() if "malformed" in line).split()[1])
    assert skipped >= len(MALFORMED)


def on_a_terminal(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI with a pseudo-terminal as stdout, so it renders with rich instead of writing JSON."""
    return subprocess.run(
        ["script", "-qec", " ".join([*COMMAND, *args]), "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
    )


def test_results_table_prints_markup_as_itself(bad_results):
    proc = on_a_terminal("results", "--pattern", "chaining", "--last", "50")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout
    shown = next(line for line in proc.stdout.splitlines() if bad_results in line)
    assert MARKUP in shown  # the route column, whole


def test_results_follow_prints_markup_as_itself(stack):
    """A replay_of of "[/]" once crashed the follower: on a terminal each result is a line of rich markup."""
    request_id = new_id("follow-markup")
    # A terminal is what makes the follower render with rich (piped, it writes JSON lines).
    follower = subprocess.Popen(
        ["script", "-qfec", " ".join([*COMMAND, "results", "--follow", "--pattern", "chaining"]), "/dev/null"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")), daemon=True).start()
    try:
        marker = new_id("follow-ready")
        # The follower starts at the end: publish until it shows something, then the hostile ones.
        deadline = time.monotonic() + 30
        while not any(marker in line for line in lines) and time.monotonic() < deadline:
            produce(result_topic("chaining"), {**markup_result(marker), "route": None, "replay_of": None})
            time.sleep(0.5)
        for value in MALFORMED:
            produce(result_topic("chaining"), value)
        produce(result_topic("chaining"), markup_result(request_id))
        deadline = time.monotonic() + 30
        while not any(request_id in line for line in lines) and time.monotonic() < deadline:
            assert follower.poll() is None, "".join(lines)
            time.sleep(0.1)
    finally:
        follower.terminate()
        follower.wait(10)
    shown = next(line for line in lines if request_id in line)
    assert "(replay of [/])" in shown and f"via {MARKUP}" in shown and f"out {MARKUP}" in shown
    assert "Traceback" not in "".join(lines)


def test_approvals_and_replay_survive_malformed_approval_and_dead_letter_records(stack):
    for topic in (approval_requests_topic(), approvals_topic(), dead_letters_topic()):
        for value in MALFORMED:
            produce(topic, value, key=b"\xff" if value is None else None)
        produce(topic, {"approval_id": MARKUP, "request_id": MARKUP, "content": MARKUP, "reason": MARKUP})
    proc = agentpipe("approvals", "--verbose")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert MARKUP not in proc.stdout  # a record on the topic is not a pending review in Restate

    decided = agentpipe("approve", MARKUP)
    assert decided.returncode == 5 and "Traceback" not in decided.stderr, decided.stderr

    replay = agentpipe("replay", dead_letters_topic(), "--pattern", "chaining", "--dry-run", "--json")
    assert replay.returncode == 0 and "Traceback" not in replay.stderr, replay.stderr
    assert "skipped" in replay.stderr


def test_anything_unexpected_is_one_line_and_exit_1(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something nobody planned for\nsecond line")

    monkeypatch.setattr(stack_commands, "cmd_down", broken)  # main builds its parser afresh: it takes this
    monkeypatch.delenv("AGENTPIPE_DEBUG", raising=False)
    assert cli.main(["down"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError" in err and "something nobody planned for" in err
