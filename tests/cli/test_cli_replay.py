"""`agentpipe replay`: a slice of a topic comes back as new requests with replay_of, results summarized."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from agentpipe.settings import get_settings
from agentpipe.topics import result_topic
from tests.cli.cli_run import agentpipe, json_lines
from tests.kafka_io import TopicReader, new_id, producer

RECORDS = 50


@pytest.fixture
def source_topic(stack) -> str:
    """A topic of its own (no subscription reads it), one partition, so offsets are 0..N-1."""
    name = f"cli-test.replay-source-{new_id('t')}"
    admin = AdminClient({"bootstrap.servers": get_settings().kafka_bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    return name


def fill(topic: str, count: int, start: int = 0) -> dict[int, str]:
    """Records at offsets start.. ; every third has no request_id, so its original id is its coordinates.

    Returns offset -> the id replay must put in replay_of.
    """
    bodies = [
        {"message": f"Revenue grew by {i}%."} | ({"request_id": f"orig-{topic}-{i}"} if i % 3 else {})
        for i in range(start, start + count)
    ]
    p, delivered = producer(), []
    for body in bodies:
        p.produce(topic, json.dumps(body).encode(), partition=0, on_delivery=lambda err, msg: delivered.append(msg))
    p.flush(30)
    offsets = sorted(msg.offset() for msg in delivered)
    assert offsets == list(range(start, start + count))
    return {o: b.get("request_id", f"{topic}/0/{o}") for o, b in zip(offsets, bodies, strict=True)}


def test_replay_of_50_records_yields_50_results_with_replay_of_twice(source_topic):
    originals = fill(source_topic, RECORDS)
    args = ("replay", source_topic, "--pattern", "chaining", "--from-offset", "0", "--to-offset", str(RECORDS - 1))

    dry = agentpipe(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = json_lines(dry.stdout)
    assert sorted(p["replay_of"] for p in planned) == sorted(originals.values())

    batches = []
    with TopicReader.open([result_topic("chaining")]) as reader:
        for _ in range(2):  # the same slice twice: two distinct batches
            proc = agentpipe(*args, "--wait", timeout=180)
            assert proc.returncode == 0, proc.stderr
            [summary] = json_lines(proc.stdout)
            assert summary | {"batch": None} == {
                "batch": None,
                "pattern": "chaining",
                "published": RECORDS,
                "skipped": 0,
                "waited": True,
                "ok": RECORDS,
                "error": 0,
                "statuses": {"ok": RECORDS},
                "missing": 0,
            }
            batches.append(summary["batch"])
        ours = lambda rs: [r["value"] for r in rs if r["value"]["request_id"].startswith(tuple(batches))]  # noqa: E731
        reader.collect(lambda rs: len(ours(rs)) >= 2 * RECORDS, timeout=60)
    assert batches[0] != batches[1]
    results = ours(reader.seen)
    assert len({r["request_id"] for r in results}) == 2 * RECORDS
    for batch in batches:
        replayed = [r for r in results if r["request_id"].startswith(batch)]
        assert sorted(r["replay_of"] for r in replayed) == sorted(originals.values())
        assert all(r["status"] == "ok" for r in replayed)
    # The message travelled: record 12 said 12%.
    twelve = next(r for r in results if r["replay_of"] == originals[12])
    assert "| revenue growth | 12% |" in twelve["output"]


def test_replay_by_time_selects_the_records_of_that_window(source_topic):
    fill(source_topic, 3)
    time.sleep(0.05)
    since = datetime.now(UTC).isoformat(timespec="milliseconds")
    time.sleep(0.05)
    window = fill(source_topic, 4, start=3)
    time.sleep(0.05)
    until = datetime.now(UTC).isoformat(timespec="milliseconds")
    time.sleep(0.05)
    fill(source_topic, 2, start=7)

    proc = agentpipe(
        "replay", source_topic, "--pattern", "orchestrator", "--since", since, "--until", until, "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p["replay_of"] for p in json_lines(proc.stdout)) == sorted(window.values())


def test_replay_input_errors(source_topic):
    missing = agentpipe("replay", "no-such-topic", "--pattern", "chaining")
    assert missing.returncode == 5 and "does not exist" in missing.stderr
    both = agentpipe("replay", source_topic, "--pattern", "chaining", "--from-offset", "0", "--since", "1h")
    assert both.returncode == 2 and "not both" in both.stderr
    bad_time = agentpipe("replay", source_topic, "--pattern", "chaining", "--since", "yesterday")
    assert bad_time.returncode == 2 and "invalid time" in bad_time.stderr
