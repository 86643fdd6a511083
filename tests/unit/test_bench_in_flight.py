"""The benchmark's in-flight check: the options of its two kinds (waiting approvals, slow model), what makes each
refuse to start, the requests that all wait for a person, and its target row and section; no stack needed."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from agentpipe.requests import ModerationRequest
from agentpipe.settings import get_settings
from benchmarks import approvals, report, runner
from benchmarks.config import BenchConfig, add_arguments, config_from, slow_model_problem
from handlers import prompts
from handlers.tools import GET_HUMAN_REVIEW
from offline_model.rules import reply


def config_of(*argv: str) -> BenchConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from(parser.parse_args(list(argv)))


def test_waiting_approvals_are_the_default_kind_with_10000_requests():
    config = config_of()
    assert (config.in_flight_kind, config.in_flight, config.in_flight_hold) == ("approvals", 10_000, 5.0)
    quick = config_of("--quick")
    assert (quick.in_flight_kind, quick.in_flight, quick.in_flight_hold) == ("approvals", 40, 1.0)


def test_the_slow_model_kind_keeps_its_1000_requests_unless_told():
    assert config_of("--in-flight-kind", "slow-model").in_flight == 1000
    assert config_of("--in-flight-kind", "slow-model", "--in-flight", "300").in_flight == 300
    assert config_of("--in-flight-kind", "slow-model", "--quick").in_flight == 40


def test_an_unknown_kind_is_refused(capsys):
    with pytest.raises(SystemExit):
        config_of("--in-flight-kind", "tired-model")
    assert "--in-flight-kind" in capsys.readouterr().err


def test_a_slow_model_at_or_above_the_llm_timeout_is_refused():
    assert slow_model_problem(2000, 20.0) is None
    assert slow_model_problem(3999, 4.0) is None
    problem = slow_model_problem(4000, 4.0)
    assert problem and "LLM timeout (4 s, AGENTPIPE_LLM_TIMEOUT_S)" in problem and "retries" in problem


def test_the_llm_timeout_is_read_from_the_agent_services_environment():
    env = {"AGENTPIPE_LLM_TIMEOUT_S": "4", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    try:
        assert runner.agent_llm_timeout_s(process.pid) == 4.0
    finally:
        process.kill()
        process.wait()
    # Without the variable (or the process), the default of the settings.
    assert runner.agent_llm_timeout_s(process.pid) == get_settings().llm_timeout_s == 20.0


def test_the_check_refuses_before_any_run(monkeypatch):
    slow = config_of("--in-flight-kind", "slow-model", "--in-flight-latency", "25000")
    with pytest.raises(runner.BenchError, match="at or above the agent service's LLM timeout"):
        runner.check_in_flight(slow, agent_pid=-1)
    runner.check_in_flight(config_of("--in-flight-kind", "slow-model"), agent_pid=-1)  # 2 s against 20 s
    with pytest.raises(runner.BenchError, match="signs approval events"):
        runner.check_in_flight(config_of(), agent_pid=-1)  # no approval key in the empty state folder
    monkeypatch.setenv("AGENTPIPE_APPROVAL_KEY", "505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063")
    get_settings.cache_clear()
    runner.check_in_flight(config_of(), agent_pid=-1)
    runner.check_in_flight(
        config_of("--in-flight", "0", "--in-flight-kind", "slow-model", "--in-flight-latency", "9e9"), -1
    )


def test_every_request_of_the_check_waits_for_a_person():
    request = ModerationRequest.model_validate(approvals.request_body(600))
    assert request.text == approvals.CONTENT and request.review_timeout_s == 600
    messages = [{"role": "user", "content": request.text}]
    answer = reply(
        {
            "model": "m",
            "messages": [{"role": "system", "content": prompts.MODERATOR}, *messages],
            "tools": [GET_HUMAN_REVIEW],
        }
    )
    assert [call.name for call in answer.tool_calls] == [GET_HUMAN_REVIEW["function"]["name"]]


def test_only_this_checks_reviews_are_counted_and_approved():
    for query in (approvals.reviews_query("bench-ab12cd-approve"), approvals.waiting_ids_query("bench-ab12cd-approve")):
        assert "LIKE '\"bench-ab12cd-approve-%'" in query and "q.key = 'requested'" in query
    assert "i.status IN ('running', 'suspended')" in approvals.waiting_ids_query("p")
    # The pattern's invocations are the ones their request-id claims name (Kafka requests carry no idempotency key).
    assert "c.service_key LIKE 'human-in-the-loop:p-%'" in approvals.pattern_query("p")
    statuses = approvals.by_status([{"status": "suspended", "n": 7}, {"status": "running", "n": "3"}])
    statuses["backing-off"], statuses["completed"] = 2, 5
    assert approvals.waiting(statuses) == 10 and approvals.open_invocations(statuses) == 12


def in_flight(requests: int = 10_000, agent: float = 250.0, restate: float = 900.0, lost: int = 0, **more) -> dict:
    return {
        "kind": "approvals",
        "requests": requests,
        "model_latency_ms": 0.0,
        "service": "HumanInTheLoopService",
        "invocations_per_request": 2,
        "all_waiting": True,
        "seconds_to_all_waiting": 80.0,
        "max_waiting": requests,
        "max_open_pattern_invocations": requests,
        "review_statuses_before_approval": {"suspended": requests},
        "pattern_statuses_before_approval": {"suspended": requests},
        "hold_s": 5.0,
        "approved": requests,
        "seconds_approval_to_results": 60.0,
        "after_approval_ms": {"p50": 30_000, "p99": 58_000, "max": 59_000},
        "results": requests - lost,
        "lost": lost,
        "ok": requests - lost,
        "statuses": {"ok": requests - lost},
        "seconds": 150.0,
        "agent_rss_before_mb": 100.0,
        "agent_rss_max_mb": agent,
        "restate_rss_max_mb": restate,
        "agent_rss_waiting_max_mb": agent,
        "restate_rss_waiting_max_mb": restate,
        **more,
    }


@pytest.mark.parametrize(
    ("f", "met"),
    [
        (in_flight(), True),
        (in_flight(agent=300.0), False),
        (in_flight(restate=1100.0), False),
        (in_flight(lost=1), False),
        (in_flight(all_waiting=False, max_waiting=6000), False),  # they never all waited at once
        (in_flight(requests=40), None),  # too few to judge
    ],
)
def test_the_target_wants_little_memory_and_nothing_lost_with_10000_waiting(f, met):
    row = report.approvals_target(f)
    assert row["met"] is met
    assert row["goal"] == "agent service < 300 MB, restate-server < 1 GB, 0 lost, with 10,000 in flight"
    assert f"lost {f['lost']} ({f['max_waiting']:,} of {f['requests']:,} waiting at once)" in row["measured"]


def test_the_section_says_how_they_waited_and_came_back():
    text = "\n".join(report.approvals_section(in_flight(requests=40)))
    assert "## 40 requests waiting for approval" in text and "All 40 reached their review 80.0 s" in text
    assert "reviews 40 suspended" in text and "40/40 results came back (40 ok)" in text and "lost 0" in text
    stopped = "\n".join(report.approvals_section(in_flight(all_waiting=False, max_waiting=30)))
    assert "Only 30 of 10,000 were waiting at once" in stopped


def test_in_flight_rows_are_compared_only_between_the_same_kind():
    slow = {"model_latency_ms": 2000.0, "requests": 1000, "agent_rss_max_mb": 167.4}
    base = {"runs": [], "label": "", "generated_at": ""}
    lines = report.compare_table({**base, "in_flight": slow}, {**base, "in_flight": in_flight()})
    assert not any("in flight" in line or "waiting approvals" in line for line in lines)
    lines = report.compare_table({**base, "in_flight": in_flight(agent=200.0)}, {**base, "in_flight": in_flight()})
    assert lines[-1] == "| 0 ms | 10000 waiting approvals | agent RSS max | | | | 200.0 → 250.0 MB |"
