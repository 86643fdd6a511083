"""`agentpipe results`: a result published twice (a publish repeated after a crash) is shown once."""

from __future__ import annotations

import subprocess
import threading
import time

from agentpipe.topics import result_topic
from tests.cli.cli_run import COMMAND, ROOT, agentpipe, json_lines
from tests.kafka_io import TopicReader, produce, result_reader, send_request, wait_for_results


def send_and_duplicate(pattern: str) -> str:
    """Run one request, then publish an exact copy of its result record (key, headers, value)."""
    with result_reader(pattern, dead_letters=False) as reader:
        request_id = send_request(pattern)
        record = wait_for_results(pattern, [request_id], reader)[request_id]
    produce(record["topic"], record["value"], key=record["key"], headers=record["headers"])
    with TopicReader.open([result_topic(pattern)], from_beginning=True) as everything:
        # Other tests leave malformed records on the topic: only dict values can be results.
        everything.collect(
            lambda rs: (
                sum(isinstance(r["value"], dict) and r["value"].get("request_id") == request_id for r in rs) == 2
            ),
            timeout=30,
        )
    return request_id


def test_results_drops_a_duplicated_result_record(stack):
    request_id = send_and_duplicate("chaining")
    proc = agentpipe("results", "--pattern", "chaining")
    assert proc.returncode == 0, proc.stderr
    ids = [r["request_id"] for r in json_lines(proc.stdout)]
    assert ids.count(request_id) == 1
    assert len(ids) == len(set(ids))


def test_results_follow_dedupes_and_streams_new_results(stack):
    first = send_and_duplicate("parallel-tools")
    lines: list[str] = []
    follower = subprocess.Popen(
        [*COMMAND, "results", "--follow", "--from-beginning", "--pattern", "parallel-tools"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")), daemon=True).start()
    try:
        second = send_request("parallel-tools")
        deadline = time.monotonic() + 60
        while not any(second in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        follower.terminate()
        follower.wait(10)
    ids = [r["request_id"] for r in json_lines("".join(lines))]
    assert second in ids, follower.stderr.read()
    assert ids.count(first) == 1
