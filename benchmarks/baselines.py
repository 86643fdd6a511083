"""The plain-consumer baselines: what users would write instead of the durable pipeline.

    consume request → 3 LLM calls (same prompts, same model server) → produce result

``sequential``: one worker per partition, one record at a time, offset stored after
the result is acknowledged (at-least-once, like a careful plain consumer).
``concurrent``: every record is its own asyncio task (bounded), offsets
auto-committed on poll; no journal, no retries, nothing survives a crash.

Each baseline runs in its own process (``python -m benchmarks.baselines``), as
the agent service does, so it gets its own interpreter and its RSS can be read.
It consumes its own copy of the request topic (``bench.requests.*``) and
publishes to its own result topic, so it never competes with the Restate
subscription. It prints ``READY`` once it is assigned at the end of its topic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Consumer, Message, TopicPartition

from agentpipe import requests
from agentpipe.kafka_config import client_config
from agentpipe.kafka_publisher import KafkaPublisher
from agentpipe.messages import now_rfc3339
from agentpipe.settings import get_settings
from handlers import chaining, prompts
from handlers.llm import chat_completion, llm_client
from subscriptions.kafka_topics import create_topics

KINDS = ("sequential", "concurrent")  # the two plain consumers (a) and (b)


def bench_topics(kind: str) -> tuple[str, str]:
    """(request topic, result topic) of one baseline."""
    return f"bench.requests.chaining-{kind}", f"bench.results.chaining-{kind}"


def ensure_bench_topics(kinds: tuple[str, ...] = KINDS, timeout: float = 30.0) -> None:
    """Create the baselines' topics (the broker does not auto-create); request topics get the same partitions."""
    wanted: dict[str, int] = {}
    for kind in kinds:
        requests, results = bench_topics(kind)
        wanted[requests] = get_settings().request_partitions
        wanted[results] = 1
    create_topics(wanted, timeout=timeout)


class Chain:
    """The chaining pattern without Restate: the same three prompts through the same LLM call (client, transport,
    settings) as the agent service, only not journaled."""

    def __init__(self) -> None:
        # Make the client now (importing openai takes most of a second): the baseline reports READY
        # after this, so its first measured requests do not pay for it (a --quick window is 1 s).
        llm_client()

    async def ask(self, request_id: str, step: str, system: str, user: str) -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        reply = await chat_completion(step, messages, request_id=request_id, pattern="chaining")
        return reply.text

    async def run(self, request_id: str, message: str) -> str:
        metrics = await self.ask(request_id, chaining.EXTRACT, prompts.EXTRACT_METRICS, message)
        ordered = await self.ask(request_id, chaining.SORT, prompts.SORT_METRICS, metrics)
        return await self.ask(request_id, chaining.FORMAT, prompts.FORMAT_TABLE, ordered)


class Baseline:
    def __init__(self, kind: str, request_topic: str, result_topic: str, max_in_flight: int):
        settings = get_settings()
        self.kind = kind
        self.result_topic = result_topic
        self.chain = Chain()
        # The agent service's publisher (acks=all, idempotent, same linger): publishing costs the same.
        self.publisher = KafkaPublisher(settings.kafka_bootstrap)
        self.consumer = Consumer(
            client_config(
                **{
                    "group.id": f"bench-baseline-{kind}-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": True,
                    # sequential: commit only what was processed; concurrent: whatever was polled.
                    "enable.auto.offset.store": kind == "concurrent",
                    "fetch.wait.max.ms": 50,
                }
            )
        )
        # Start at the end: records left from an earlier run are not this run's load.
        metadata = self.consumer.list_topics(request_topic, timeout=10)
        ends = {
            p: self.consumer.get_watermark_offsets(TopicPartition(request_topic, p), 10)[1]
            for p in metadata.topics[request_topic].partitions
        }
        self.consumer.assign([TopicPartition(request_topic, p, end) for p, end in ends.items()])
        self.in_flight = asyncio.Semaphore(max_in_flight)
        self.queues: dict[int | None, asyncio.Queue[Message]] = {}
        self.tasks: set[asyncio.Task] = set()
        self.errors = 0

    async def handle(self, msg: Message) -> None:
        source = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}
        try:
            body = json.loads(msg.value() or b"{}")
        except ValueError:
            body = {}
        request_id = body.get("request_id") or f"{source['topic']}/{source['partition']}/{source['offset']}"
        try:
            output = await self.chain.run(request_id, body.get("message") or requests.EXAMPLE_REPORT)
            status, error = "ok", None
        except Exception as exc:  # noqa: BLE001 - no durability: report and move on
            self.errors += 1
            output, status, error = "", "error", f"{type(exc).__name__}: {exc}"
        result = {
            "request_id": request_id,
            "pattern": "chaining",
            "status": status,
            "output": output,
            "error": error,
            "source": source,
            "replay_of": None,
            "completed_at": now_rfc3339(),
        }
        await self.publisher.publish(
            self.result_topic, key=request_id, value=result, headers={"request-id": request_id, "pattern": "chaining"}
        )
        if self.kind == "sequential":
            self.consumer.store_offsets(msg)

    async def partition_worker(self, queue: asyncio.Queue[Message]) -> None:
        while True:
            msg = await queue.get()
            await self.handle(msg)

    async def dispatch(self, msg: Message) -> None:
        if self.kind == "sequential":
            queue = self.queues.get(msg.partition())
            if queue is None:
                # Bounded: a full queue stops polling, as a plain poll-process loop would.
                queue = self.queues[msg.partition()] = asyncio.Queue(maxsize=100)
                self._keep(asyncio.create_task(self.partition_worker(queue)))
            await queue.put(msg)
        else:
            await self.in_flight.acquire()
            task = asyncio.create_task(self.handle(msg))
            task.add_done_callback(lambda _t: self.in_flight.release())
            self._keep(task)

    def _keep(self, task: asyncio.Task) -> None:
        # The event loop keeps only weak references to tasks.
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _next_batch(self) -> list[Message]:
        # poll() returns as soon as one record is there; consume(n, timeout) would wait for n or the timeout.
        first = self.consumer.poll(0.05)
        return [] if first is None else [first, *self.consumer.consume(499, 0)]

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        poller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consume")
        print("READY", flush=True)
        while not stop.is_set():
            # Polling blocks; a thread keeps the event loop free for the LLM calls.
            for msg in await loop.run_in_executor(poller, self._next_batch):
                if not msg.error():
                    await self.dispatch(msg)
        self.consumer.close()
        self.publisher.close(5)


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    requests, results = bench_topics(args.kind)
    baseline = Baseline(args.kind, args.request_topic or requests, args.result_topic or results, args.max_in_flight)
    await baseline.run(stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baselines", description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--request-topic")
    parser.add_argument("--result-topic")
    parser.add_argument("--max-in-flight", type=int, default=1000)
    asyncio.run(_main(parser.parse_args(argv)))


class BaselineProcess:
    """Starts a baseline consumer process and waits for READY; stops it with SIGTERM."""

    def __init__(self, kind: str, max_in_flight: int = 1000):
        self.kind = kind
        self.max_in_flight = max_in_flight
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 60.0) -> int:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.baselines",
            "--kind",
            self.kind,
            "--max-in-flight",
            str(self.max_in_flight),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        assert self.process.stdout is not None  # stdout=PIPE
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if line.strip() != b"READY":
            await self.stop()
            raise RuntimeError(f"baseline {self.kind} did not start (exit code {self.process.returncode})")
        return self.process.pid

    async def stop(self) -> None:
        await stop_process(self.process)


async def stop_process(process: asyncio.subprocess.Process | None, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``grace_s``."""
    if process is None or process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        process.kill()
        await process.wait()


if __name__ == "__main__":
    main()
