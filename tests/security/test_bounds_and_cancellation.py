"""Bounded state and work, and cancellation that always ends in exactly one result."""

from __future__ import annotations

import json
import time

import httpx

from agentpipe.settings import get_settings
from agentpipe.topics import approval_requests_topic, result_topic
from offline_model.client import OfflineModelControl
from tests.conftest import TEST_API_KEY
from tests.kafka_io import TopicReader, new_id, result_reader, send_request, wait_for_results
from tests.restate_api import ingress, invocation_of, journal, sql

BORDERLINE = "A borderline joke about skipping taxes; might be satire."


def cancel(invocation_id: str) -> None:
    url = f"{get_settings().restate_admin_url}/invocations/{invocation_id}/cancel"
    httpx.patch(url, timeout=10).raise_for_status()


def results_until_marker(pattern: str, reader: TopicReader, watched: list[str], timeout: float = 60) -> dict:
    """Every result for ``watched`` up to a marker request sent now: duplicates would show by then."""
    marker = send_request(pattern, {"message": "marker"})
    reader.collect(lambda seen: any(r["value"].get("request_id") == marker for r in seen), timeout)
    counts: dict[str, list[dict]] = {request_id: [] for request_id in watched}
    for record in reader.seen:
        if record["topic"] == result_topic(pattern) and record["value"].get("request_id") in counts:
            counts[record["value"]["request_id"]].append(record["value"])
    return counts


def test_cancelling_while_a_remote_agent_answers_ends_in_one_error_result(stack):
    request_id = new_id("cancel-remote")
    with (
        OfflineModelControl(get_settings().offline_model_url) as control,
        result_reader("remote-agent-routing", dead_letters=False) as reader,
    ):
        control.hang_next(1, seconds=5, match=request_id, step="specialist")
        send_request("remote-agent-routing", {"request_id": request_id, "message": "I was charged twice."})
        deadline = time.monotonic() + 30
        while not any(
            "specialist" in (c["step"] or "") and c["finished_at"] is None for c in control.calls(request_id)
        ):
            assert time.monotonic() < deadline, control.calls(request_id)
            time.sleep(0.1)
        cancel(invocation_of("remote-agent-routing", request_id)["id"])
        reader.collect(lambda seen: any(r["value"]["request_id"] == request_id for r in seen))
        while any(c["finished_at"] is None for c in control.calls(request_id)):  # let the hung call end
            assert time.monotonic() < deadline + 30
            time.sleep(0.2)
        results = results_until_marker("remote-agent-routing", reader, [request_id])[request_id]
    assert [(r["status"], r["error"]) for r in results] == [("error", "cancelled")]


def test_cancelling_moderations_at_any_moment_leaves_one_result_and_no_open_review(stack):
    with TopicReader.open([approval_requests_topic(), result_topic("human-in-the-loop")]) as reader:
        ids = [send_request("human-in-the-loop", {"content": BORDERLINE}) for _ in range(8)]
        for n, request_id in enumerate(ids):
            if n % 2:  # the rest: once the review has opened and published its request
                reader.collect(
                    lambda seen, rid=request_id: any(
                        r["topic"] == approval_requests_topic() and r["value"]["request_id"] == rid for r in seen
                    )
                )
            cancel(invocation_of("human-in-the-loop", request_id)["id"])
        reader.collect(
            lambda seen: (
                {r["value"]["request_id"] for r in seen if r["topic"] == result_topic("human-in-the-loop")} >= set(ids)
            )
        )
        results = results_until_marker("human-in-the-loop", reader, ids)
    assert {request_id: [(r["status"], r["error"]) for r in found] for request_id, found in results.items()} == {
        request_id: [("error", "cancelled")] for request_id in ids
    }
    deadline = time.monotonic() + 30
    while True:  # cancelled reviews close themselves; none may stay pending
        statuses = review_statuses(ids)
        if statuses and "pending" not in statuses.values():
            break
        assert time.monotonic() < deadline, {k: v for k, v in statuses.items() if v != "cancelled"}
        time.sleep(0.2)
    # Half were cancelled after their review opened; the others may or may not have got that far.
    assert len(statuses) >= len(ids) // 2 and set(statuses.values()) == {"cancelled"}, statuses


def review_statuses(request_ids: list[str]) -> dict[str, str]:
    """Request id → status of its review, for the reviews that exist."""
    rows = sql(
        "SELECT service_key, key, value_utf8 FROM state WHERE service_name = 'ApprovalReview' "
        "AND key IN ('request_id', 'status')"
    )
    reviews: dict[str, dict[str, str]] = {}
    for row in rows:
        reviews.setdefault(row["service_key"], {})[row["key"]] = json.loads(row["value_utf8"])
    return {r["request_id"]: r.get("status", "") for r in reviews.values() if r.get("request_id") in request_ids}


def test_chat_history_is_bounded_in_bytes(stack):
    session = new_id("big-chat")
    limit = get_settings().chat_history_max_bytes
    with result_reader("chat") as reader:
        ids = [send_request("chat", {"message": f"{n} " + "x" * (limit // 3)}, key=session) for n in range(4)]
        wait_for_results("chat", ids, reader)
    history = ingress(f"Chat/{session}/history")
    size = sum(len(json.dumps(m, ensure_ascii=False).encode()) for m in history)
    assert size <= limit, size
    assert history[-1]["role"] == "assistant" and history[-2]["content"].startswith("3 ")


def test_one_tool_round_runs_at_most_the_configured_number_of_calls(stack):
    cities = [
        "Berlin",
        "Tokyo",
        "Paris",
        "London",
        "Madrid",
        "Rome",
        "Vienna",
        "Oslo",
        "Lisbon",
        "Dublin",
        "Prague",
        "Warsaw",
    ]
    cap = get_settings().tool_calls_max_per_round
    assert len(cities) > cap
    with result_reader("parallel-tools") as reader:
        request_id = send_request("parallel-tools", {"message": f"What is the weather in {', '.join(cities)}?"})
        result = wait_for_results("parallel-tools", [request_id], reader)[request_id]["value"]
    assert result["status"] == "ok", result
    names = [e["name"] or "" for e in journal(invocation_of("parallel-tools", request_id)["id"])]
    first_round = names[names.index("Agent round 1") + 1 : names.index("Agent round 2")]
    assert sum(n.startswith("get_weather(") for n in first_round) == cap, names


def test_bounds_are_read_once_into_the_journal(stack):
    with result_reader("evaluator-optimizer") as reader:
        request_id = send_request("evaluator-optimizer", {})
        wait_for_results("evaluator-optimizer", [request_id], reader)
    names = [e["name"] for e in journal(invocation_of("evaluator-optimizer", request_id)["id"])]
    assert names.count("Read bounds") == 1, names


def test_a_rejected_key_echoed_by_the_provider_reaches_no_result_and_no_log(stack):
    shown = f"{TEST_API_KEY[:8]}{'*' * (len(TEST_API_KEY) - 12)}{TEST_API_KEY[-4:]}"  # as the provider echoes it
    request_id = new_id("bad-key")
    with OfflineModelControl(get_settings().offline_model_url) as control, result_reader("chaining") as reader:
        control.fail_next(1, 401, match=request_id)
        send_request("chaining", {"request_id": request_id})
        result = wait_for_results("chaining", [request_id], reader)[request_id]["value"]
    assert result["status"] == "error" and "HTTP 401" in result["error"], result
    assert TEST_API_KEY[:8] not in result["error"] and TEST_API_KEY[-4:] not in result["error"], result["error"]
    for log in (get_settings().state_dir / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        assert shown not in text and TEST_API_KEY not in text, f"key fragment in {log}"
