"""Flow control through Kafka, against a provider that limits its callers.

The offline model answers 429 as OpenAI does (retry-after, x-ratelimit-* headers) once a model's
limit is exceeded; each test limits a model name of its own (tests/conftest.py), so each has its
own budget. A backlog put on a request topic at once, as a replay does, must drain at the
provider's limit with nothing failed and few 429s, chat must go ahead of it, and a request whose
deadline passes while it waits must end with an error that says so.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from agentpipe.settings import get_settings
from agentpipe.topics import request_topic
from benchmarks.flow import busiest_second
from offline_model.client import OfflineModelControl
from tests.conftest import DEADLINE_MODEL, LEARNING_MODEL, LIMITED_MODEL, LIMITED_RPM, SECOND_MODEL
from tests.kafka_io import TopicReader, as_dict, new_id, producer, result_reader, results_for
from tests.reliability.faults import kill_component, wait_component_back

RATE = LIMITED_RPM / 60  # calls per second the offline model takes of the limited model
BURST_S = 1.0  # the offline model's bucket holds a second of calls
# In the always-replay pass every await suspends and every step replays its journal: the pass
# checks that flow control replays deterministically, on backlogs small enough to drain that way,
# and its timing bounds (the drain against the limit, chat during it) are for the normal pass.
ALWAYS_REPLAY = os.environ.get("AGENTPIPE_RESTATE_INACTIVITY_TIMEOUT") == "0s"
BACKLOG = 30 if ALWAYS_REPLAY else 600
CALLS_PER_REQUEST = 3  # chaining
# Chat goes ahead of the backlog: answered within this many seconds of being produced (the offline
# model answers at once, so this is all flow: the hand-on, the budget's queue, the publish).
CHAT_WITHIN_S = 5.0


@contextmanager
def limited(model: str, requests_per_s: float) -> Iterator[OfflineModelControl]:
    control = OfflineModelControl(get_settings().offline_model_url)
    control.set_limits(requests_per_s=requests_per_s, burst_s=BURST_S, model=model)
    try:
        yield control
    finally:
        control.set_limits(None, model=model)


def produce_backlog(model: str, count: int, **extra: object) -> list[str]:
    ids = [new_id("backlog") for _ in range(count)]
    p = producer()
    for i, request_id in enumerate(ids):
        body = {"request_id": request_id, "message": f"Quarter {i}: revenue grew 4%, churn fell to 2%.", "model": model}
        p.produce(request_topic("chaining"), value=json.dumps({**body, **extra}).encode())
    assert p.flush(30) == 0
    return ids


def read_some(reader: TopicReader, seconds: float = 0.2) -> None:
    reader.seen.extend(as_dict(record) for record in reader.poll_batch(seconds))


def pace(calls: list[dict], started_at: float) -> str:
    """When the calls reached the model: the first, the last, and how many in each ten seconds."""
    ok = sorted(c["started_at"] - started_at for c in calls if c["status"] == 200)
    if not ok:
        return "no call reached the model"
    per_10s = Counter(int(at // 10) * 10 for at in ok)
    return (
        f"first call at +{ok[0]:.1f}s, last at +{ok[-1]:.1f}s, per 10 s from the start: {dict(sorted(per_10s.items()))}"
    )


def model_calls(control: OfflineModelControl, request_ids: list[str]) -> list[dict]:
    wanted = set(request_ids)
    return [call for call in control.calls() if call["request_id"] in wanted]


def warmed_up(reader: TopicReader, model: str) -> None:
    """One request on ``model`` through its subscription and its budget before the clock starts.

    A broker killed by an earlier test leaves Restate's consumers reconnecting for seconds
    (seen: a drain's first call 8.6 s after its records were produced, 2.4 s without the kill);
    the drain measures flow control, not that recovery.
    """
    [probe] = produce_backlog(model, 1)
    reader.collect(lambda seen: len(results_for(seen, [probe])) == 1, timeout=120)
    time.sleep(BURST_S + 0.5)  # the probe's calls leave the provider's bucket full again


def test_a_backlog_drains_at_the_providers_limit_and_chat_goes_first(stack):
    ideal_s = BACKLOG * CALLS_PER_REQUEST / RATE
    chats: dict[str, float] = {}  # request id -> when it was produced (epoch seconds)
    with limited(LIMITED_MODEL, RATE) as control, result_reader("chaining", "chat") as reader:
        warmed_up(reader, LIMITED_MODEL)
        started, started_at = time.monotonic(), time.time()
        ids = produce_backlog(LIMITED_MODEL, BACKLOG, priority="batch")  # as a replay's are
        chat_producer = producer()
        next_chat = started + (1.0 if ALWAYS_REPLAY else 15.0)  # once the backlog waits for its budget
        while (
            len(results_for(reader.seen, ids)) < BACKLOG
            and time.monotonic() - started < 3 * ideal_s + 600 * ALWAYS_REPLAY
        ):
            now = time.monotonic()
            if now >= next_chat and (now - started < ideal_s - 10 or (ALWAYS_REPLAY and not chats)):
                chat_id = new_id("chat-during-drain")
                body = {"request_id": chat_id, "message": "Is my order on its way?", "model": LIMITED_MODEL}
                chat_producer.produce(request_topic("chat"), value=json.dumps(body).encode(), key=new_id("session"))
                chat_producer.flush(10)
                chats[chat_id] = time.time()
                next_chat = now + 4.0
            read_some(reader)
        drained_s = time.monotonic() - started
        reader.collect(lambda seen: len(results_for(seen, chats)) == len(chats), timeout=30)
        calls = model_calls(control, ids)

    results = results_for(reader.seen, ids)
    statuses = Counter(r["value"]["status"] for r in results.values())
    assert statuses == {"ok": BACKLOG}, [r["value"]["error"] for r in results.values() if r["value"]["error"]][:3]
    if not ALWAYS_REPLAY:
        assert drained_s <= 1.15 * ideal_s, f"drained in {drained_s:.1f}s, the limit allows {ideal_s:.0f}s; " + pace(
            calls, started_at
        )
    codes = Counter(call["status"] for call in calls)
    assert codes[200] == BACKLOG * CALLS_PER_REQUEST
    assert codes[429] <= 0.05 * len(calls), codes
    # What reached the model stayed within its limit and its burst, second by second.
    busiest = busiest_second([c["started_at"] for c in calls if c["status"] == 200])
    assert busiest <= RATE + RATE * BURST_S, busiest

    answered = results_for(reader.seen, chats)
    assert set(answered) == set(chats) and all(answered[rid]["value"]["status"] == "ok" for rid in chats)
    if not ALWAYS_REPLAY:
        assert len(chats) >= 5
        waited = {rid: completed_at(answered[rid]["value"]) - produced for rid, produced in chats.items()}
        assert max(waited.values()) <= CHAT_WITHIN_S, f"chat answered after {sorted(waited.values())} s in the drain"


def completed_at(result: dict) -> float:
    return datetime.fromisoformat(result["completed_at"].replace("Z", "+00:00")).timestamp()


@pytest.mark.xfail(
    strict=False,
    reason="seen once in CI (2026-12-07): 213 429s of 1,113 calls, against 88 allowed, cause not found yet; "
    "suspected: after a 429 the provider pauses, while other requests still spend the calls their permits "
    "covered. Everything else held: 300 of 300 ok",
)
def test_a_budget_learns_the_limit_from_the_providers_answers(stack):
    """No budget is configured for this model: its first 429s (and the headers stating the limit)
    give it one, and the backlog drains at the limit with nothing failed."""
    count = 30 if ALWAYS_REPLAY else 300
    ideal_s = count * CALLS_PER_REQUEST / RATE
    with limited(LEARNING_MODEL, RATE) as control, result_reader("chaining") as reader:
        # The path warmed with another model, so the learning model's budget learns here, not before:
        # on a fresh stack the cold path alone took this drain to 35.2 s against 34.5.
        warmed_up(reader, SECOND_MODEL)
        started = time.monotonic()
        ids = produce_backlog(LEARNING_MODEL, count, priority="batch")
        reader.collect(lambda seen: len(results_for(seen, ids)) == count, timeout=3 * ideal_s + 600 * ALWAYS_REPLAY)
        drained_s = time.monotonic() - started
        calls = model_calls(control, ids)
    results = results_for(reader.seen, ids)
    assert Counter(r["value"]["status"] for r in results.values()) == {"ok": count}
    codes = Counter(call["status"] for call in calls)
    # Until the first answers come back nothing is known: the first wave of calls (at most one per
    # invoker slot) goes out unpaced, and what exceeds the provider's burst is answered 429.
    first_wave = get_settings().restate_invoker_limit * get_settings().restate_partitions
    when = Counter(int(c["started_at"] - min(x["started_at"] for x in calls)) for c in calls if c["status"] == 429)
    assert codes[429] <= first_wave + 0.05 * len(calls), (
        codes,
        f"drained in {drained_s:.1f}s",
        f"429s by second {sorted(when.items())}",
    )
    if not ALWAYS_REPLAY:
        assert drained_s <= 1.15 * ideal_s, f"drained in {drained_s:.1f}s, the limit allows {ideal_s:.0f}s"
    busiest = busiest_second([c["started_at"] for c in calls if c["status"] == 200])
    assert busiest <= RATE + RATE * BURST_S, busiest


def test_a_request_held_back_past_its_deadline_ends_saying_so(stack):
    """One call every five seconds: a request that may wait two seconds fails with an error naming
    the wait; one that may wait the default gets its answer; one that waited parked fails too."""
    with limited(DEADLINE_MODEL, 0.2) as control, result_reader("chaining") as reader:
        hurried = produce_backlog(DEADLINE_MODEL, 1, deadline_s=2)
        patient = produce_backlog(DEADLINE_MODEL, 1)
        reader.collect(lambda seen: len(results_for(seen, hurried)) == 1, timeout=60)
        # The budget knows the model is limited now: a new request's first call parks, and its
        # deadline passes in the queue behind the patient one.
        parked = produce_backlog(DEADLINE_MODEL, 1, deadline_s=1)
        everything = [*hurried, *patient, *parked]
        reader.collect(lambda seen: len(results_for(seen, everything)) == 3, timeout=90)
        calls = model_calls(control, everything)
    results = {rid: r["value"] for rid, r in results_for(reader.seen, everything).items()}
    hurried_result, patient_result, parked_result = (results[i[0]] for i in (hurried, patient, parked))
    assert patient_result["status"] == "ok", patient_result
    for result, seconds in ((hurried_result, 2), (parked_result, 1)):
        assert result["status"] == "error", result
        assert result["error"].startswith(f"rate limited for {seconds} s"), result["error"]
    # The parked request never reached the model.
    assert not [c for c in calls if c["request_id"] == parked[0]]


@pytest.mark.parametrize("component", ["agent-service", "restate"])
def test_a_restart_mid_drain_loses_nothing_and_keeps_the_budget(stack, component):
    """The budget lives in Restate's state and the parked requests with their claims: a crash of the
    agent service or of restate-server in the middle of a drain loses no request, gives none two
    answers and does not let the backlog rush the provider when things come back."""
    count = 30 if ALWAYS_REPLAY else 240
    with limited(LIMITED_MODEL, RATE) as control, result_reader("chaining") as reader:
        ids = produce_backlog(LIMITED_MODEL, count, priority="batch")
        reader.collect(lambda seen: len(results_for(seen, ids)) >= count // 3, timeout=120 + 300 * ALWAYS_REPLAY)
        fault_at = time.time()
        old_pid = kill_component(component)
        wait_component_back(component, old_pid)
        reader.collect(lambda seen: len(results_for(seen, ids)) == count, timeout=240 + 600 * ALWAYS_REPLAY)
        reader.read_to_current_end()
        calls = model_calls(control, ids)
    records = [
        r["value"] for r in reader.seen if isinstance(r["value"], dict) and r["value"].get("request_id") in set(ids)
    ]
    assert all(r["status"] == "ok" for r in records), [r for r in records if r["status"] != "ok"][:3]
    # A publish repeated by the crash carries the same answer under the same id (readers drop it).
    answers: dict[str, set[str]] = {}
    for r in records:
        answers.setdefault(r["request_id"], set()).add(json.dumps(r["output"]))
    assert set(answers) == set(ids) and all(len(a) == 1 for a in answers.values())
    codes = Counter(call["status"] for call in calls)
    # A call in flight at the crash is made again when its invocation resumes (its step never finished),
    # once, outside the budget's pace; beyond those, the budget keeps the 429s as rare as in any drain.
    cut_off = [c for c in calls if c["started_at"] < fault_at and (c["finished_at"] or fault_at + 1) > fault_at]
    # When the 429s came (seconds from the fault), for which step, and how many calls their request
    # had made before the fault.
    when = sorted(
        (
            round(c["started_at"] - fault_at, 2),
            c["step"],
            sum(1 for d in calls if d["request_id"] == c["request_id"] and d["started_at"] < fault_at),
        )
        for c in calls
        if c["status"] == 429
    )
    assert codes[429] <= 0.05 * len(calls) + len(cut_off), (codes, len(cut_off), when)
    busiest = busiest_second([c["started_at"] for c in calls if c["status"] == 200])
    assert busiest <= RATE + RATE * BURST_S, busiest
