"""Measure `agentpipe replay` over a large slice, and `agentpipe compare` over a large batch:
records per second and the CLI's peak RSS.

Run it against a scratch stack of its own, never a shared one: with --publish it removes the
destination pattern's subscription first, so the million replayed requests stay on their topic
instead of being run.

    AGENTPIPE_STATE_DIR=/tmp/ap-bench AGENTPIPE_KAFKA_PORT=... agentpipe up
    python scripts/measure_replay.py --records 1000000 --publish --scratch-stack
    python scripts/measure_replay.py --compare --only-compare --compare-records 100000
    AGENTPIPE_STATE_DIR=/tmp/ap-bench ... agentpipe down

The compare measurement writes N synthetic original results and N synthetic results of one
replay batch to a scratch result topic (a topic prefix of its own, so no real topic is read),
with a known number changed, regressed, fixed and without an original, runs
`agentpipe compare BATCH` over it, checks the counts and samples the CLI's RSS with psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import psutil
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from agentpipe.kafka_config import client_config
from agentpipe.messages import AgentResult, Usage
from agentpipe.topics import request_topic
from subscriptions.restate_admin import admin_client, list_subscriptions

CLI = [str(Path(sys.executable).with_name("agentpipe"))]
PATTERN = "chaining"


def create_topic(topic: str, partitions: int) -> None:
    admin = AdminClient(client_config())  # kept alive until the topic exists
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def produce_all(topic: str, values: Iterable[tuple[bytes | None, bytes]]) -> None:
    producer = Producer(
        client_config(
            **{
                "linger.ms": 50,
                "batch.size": 1_000_000,
                "compression.type": "lz4",
                "queue.buffering.max.messages": 1_000_000,
            }
        )
    )
    for i, (key, value) in enumerate(values):
        while True:
            try:
                producer.produce(topic, value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)


def fill(topic: str, count: int, partitions: int) -> float:
    create_topic(topic, partitions)
    started = time.monotonic()
    produce_all(
        topic,
        (
            (None, json.dumps({"request_id": f"orig-{i}", "message": f"Revenue grew by {i % 100}%."}).encode())
            for i in range(count)
        ),
    )
    return time.monotonic() - started


def run_cli(args: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (KiB) of one CLI run; its stdout is thrown away as a pipe reader would."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"agentpipe {' '.join(args)} failed: {proc.stderr[-500:]}")
    return seconds, max(peak, before), proc


def run_cli_sampled(args: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (bytes, sampled every 20 ms with psutil) of one CLI run."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = psutil.Popen([*CLI, *args], stdout=stdout, stderr=stderr, text=True, env={**os.environ, **env})
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started
        stdout.seek(0)
        stderr.seek(0)
        done = subprocess.CompletedProcess(proc.args, proc.wait(), stdout.read(), stderr.read())
    return seconds, peak, done


# The synthetic batch: of every 100 replayed requests, 10 changed, 2 regressed, 1 fixed,
# 1 failing before and now, 1 without an original; the other 85 the same.
def synthetic_outcome(i: int) -> str:
    return {0: "no_original", 1: "regressed", 2: "regressed", 3: "fixed", 4: "still_failing"}.get(
        i % 100, "changed" if i % 100 < 15 else "same"
    )


def synthetic_result(request_id: str, ok: bool, output: str, replay_of: str | None = None) -> bytes:
    result = AgentResult(
        request_id=request_id,
        pattern=PATTERN,
        status="ok" if ok else "error",
        output=output if ok else "",
        error=None if ok else "LLM call failed: HTTP 400",
        replay_of=replay_of,
        usage=Usage(llm_calls=3, prompt_tokens=120, completion_tokens=40, model="agentpipe-offline"),
        completed_at="2026-11-28T07:00:00.000Z",
    )
    return result.model_dump_json().encode()


def fill_compare(topic: str, count: int, partitions: int, batch: str) -> tuple[float, dict[str, int]]:
    """N originals, then N results of batch ``batch`` replaying them; returns the counts compare must find."""
    create_topic(topic, partitions)
    expected = {"same": 0, "changed": 0, "regressed": 0, "fixed": 0, "still_failing": 0, "no_original": 0}
    for i in range(count):
        expected[synthetic_outcome(i)] += 1

    def table(i: int, header: str = "| Metric Name | Value |") -> str:
        return f"{header}\n|---|---|\n| revenue growth | {i % 100}% |\n| churn | {i % 7}% |"

    def originals() -> Iterator[tuple[bytes, bytes]]:
        for i in range(count):
            outcome = synthetic_outcome(i)
            if outcome != "no_original":
                rid = f"orig-{i}"
                yield rid.encode(), synthetic_result(rid, outcome not in ("fixed", "still_failing"), table(i))

    def replays() -> Iterator[tuple[bytes, bytes]]:
        for i in range(count):
            outcome = synthetic_outcome(i)
            rid = f"{batch}-{i:05d}"
            header = "| Metric | Value |" if outcome == "changed" else "| Metric Name | Value |"
            ok = outcome not in ("regressed", "still_failing")
            yield rid.encode(), synthetic_result(rid, ok, table(i, header), replay_of=f"orig-{i}")

    started = time.monotonic()
    produce_all(topic, originals())
    produce_all(topic, replays())
    return time.monotonic() - started, expected


def measure_compare(count: int, partitions: int) -> dict:
    prefix = f"scratch-compare-{uuid.uuid4().hex[:8]}."
    topic = f"{prefix}results.{PATTERN}"
    batch = f"replay-{uuid.uuid4().hex[:8]}"
    fill_s, expected = fill_compare(topic, count, partitions, batch)
    records = 2 * count - expected["no_original"]
    print(f"filled {topic}: {records} results ({count} of batch {batch}) in {fill_s:.1f}s", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        args = ["compare", batch, "--pattern", PATTERN, "--json", "--report", f"{folder}/report.md"]
        seconds, peak, proc = run_cli_sampled(args, {"AGENTPIPE_TOPIC_PREFIX": prefix})
    if proc.returncode not in (0, 1):
        raise SystemExit(f"agentpipe compare failed ({proc.returncode}): {proc.stderr[-500:]}")
    report = json.loads(proc.stdout)
    found = {k: report["patterns"][PATTERN][k] for k in expected}
    if found != expected:
        raise SystemExit(f"compare counted {found}, expected {expected}")
    read = sum(report["records_read"].values())
    return {
        "batch_results": count,
        "records_on_topic": records,
        "records_read": report["records_read"],
        "seconds": round(seconds, 1),
        "batch_results_per_s": round(count / seconds),
        "records_read_per_s": round(read / seconds),
        "peak_rss_mib": round(peak / 2**20),
        "counts": found,
        "exit_code": proc.returncode,
    }


def drop_subscription(topic: str) -> None:
    for sub in list_subscriptions():
        if sub["source"].endswith(f"/{topic}"):
            with admin_client() as client:
                client.delete(f"/subscriptions/{sub['id']}").raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--publish", action="store_true", help="also replay for real (no --dry-run)")
    parser.add_argument("--scratch-stack", action="store_true", help="confirm the stack is a scratch one")
    parser.add_argument("--compare", action="store_true", help="also measure `agentpipe compare`")
    parser.add_argument("--only-compare", action="store_true", help="measure `agentpipe compare` only")
    parser.add_argument("--compare-records", type=int, default=100_000, help="results in the compared batch")
    args = parser.parse_args()
    if args.publish and not args.scratch_stack:
        parser.error("--publish removes a subscription: confirm with --scratch-stack that this stack is scratch")
    figures: dict = {}
    if args.compare or args.only_compare:
        figures["compare"] = measure_compare(args.compare_records, args.partitions)
        print(f"compare: {figures['compare']}", flush=True)
    if args.only_compare:
        print(json.dumps(figures))
        return 0
    topic = f"scratch.replay-source-{uuid.uuid4().hex[:8]}"
    fill_s = fill(topic, args.records, args.partitions)
    print(f"filled {topic}: {args.records} records in {fill_s:.1f}s", flush=True)
    figures["records"] = args.records
    seconds, peak, _ = run_cli(["replay", topic, "--pattern", PATTERN, "--dry-run", "--json"])
    figures["dry_run"] = {
        "seconds": round(seconds, 1),
        "records_per_s": round(args.records / seconds),
        "peak_rss_mib": round(peak / 1024),
    }
    print(f"dry run: {figures['dry_run']}", flush=True)
    if args.publish:
        drop_subscription(request_topic(PATTERN))
        seconds, peak, _ = run_cli(["replay", topic, "--pattern", PATTERN, "--json"])
        figures["publish"] = {
            "seconds": round(seconds, 1),
            "records_per_s": round(args.records / seconds),
            "peak_rss_mib": round(peak / 1024),
        }
        print(f"publish: {figures['publish']}", flush=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
