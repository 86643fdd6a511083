"""Measure `agentpipe replay` over a large slice: records per second and the CLI's peak RSS.

Run it against a scratch stack of its own, never a shared one: with --publish it removes the
destination pattern's subscription first, so the million replayed requests stay on their topic
instead of being run.

    AGENTPIPE_STATE_DIR=/tmp/ap-bench AGENTPIPE_KAFKA_PORT=... agentpipe up
    python scripts/measure_replay.py --records 1000000 --publish --scratch-stack
    AGENTPIPE_STATE_DIR=/tmp/ap-bench ... agentpipe down
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from agentpipe.settings import get_settings
from agentpipe.topics import request_topic
from subscriptions.restate_admin import admin_client, list_subscriptions

CLI = [str(Path(sys.executable).with_name("agentpipe"))]
PATTERN = "chaining"


def fill(topic: str, count: int, partitions: int) -> float:
    bootstrap = get_settings().kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the topic exists
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    started = time.monotonic()
    for i in range(count):
        body = json.dumps({"request_id": f"orig-{i}", "message": f"Revenue grew by {i % 100}%."}).encode()
        while True:
            try:
                producer.produce(topic, body)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
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
    args = parser.parse_args()
    if args.publish and not args.scratch_stack:
        parser.error("--publish removes a subscription: confirm with --scratch-stack that this stack is scratch")
    topic = f"scratch.replay-source-{uuid.uuid4().hex[:8]}"
    fill_s = fill(topic, args.records, args.partitions)
    print(f"filled {topic}: {args.records} records in {fill_s:.1f}s", flush=True)
    figures = {"records": args.records}
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
