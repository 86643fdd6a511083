"""Load drivers and the targets they drive.

Closed loop keeps N requests in flight (a new one as soon as one finishes);
open loop sends at a fixed rate whatever happens downstream. Latency runs from
just before a request is handed to the Kafka producer (or POSTed to the
ingress) to the moment its result record is polled from the result topic,
both read from this process's monotonic clock.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from agentpipe.kafka_config import client_config
from agentpipe.settings import get_settings
from producers.broker import watermarks


@dataclass
class LoadOutcome:
    """One request the driver sent: when, when its result was seen, and how it ended."""

    request_id: str
    sent: float
    done: float | None = None
    status: str | None = None  # the result's status, or "timeout" / "send-failed"

    @property
    def latency(self) -> float | None:
        return None if self.done is None else self.done - self.sent


class ResultWatcher:
    """Polls result topics from their current end in a thread and resolves one future per request id."""

    def __init__(self, topics: list[str], loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.topics = topics
        self.consumer = Consumer(
            client_config(
                **{
                    "group.id": f"bench-watcher-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 50,
                }
            )
        )
        self._assign_at_end()
        self._waiting: dict[str, asyncio.Future] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-results", daemon=True)
        self._thread.start()

    def _assign_at_end(self) -> None:
        metadata = self.consumer.list_topics(timeout=10)
        parts = []
        for topic in self.topics:
            for partition in metadata.topics[topic].partitions:
                high = watermarks(self.consumer, topic, partition, timeout=30.0)[1]
                parts.append(TopicPartition(topic, partition, high))
        self.consumer.assign(parts)

    def expect(self, request_id: str) -> asyncio.Future:
        """Register before sending, so a fast result cannot slip past."""
        future = self.loop.create_future()
        self._waiting[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    def _poll(self) -> None:
        while not self._stop.is_set():
            msg = self.consumer.poll(0.05)
            if msg is None or msg.error():
                continue
            seen = time.monotonic()
            request_id = _header(msg, "request-id") or (msg.key() or b"").decode()
            try:
                status = json.loads(msg.value() or b"").get("status", "?")
            except (TypeError, ValueError, AttributeError):
                status = "unparsable"
            self.loop.call_soon_threadsafe(self._resolve, request_id, seen, status)

    def _resolve(self, request_id: str, seen: float, status: str) -> None:
        future = self._waiting.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result((seen, status))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.consumer.close()


def _header(msg: Message, name: str) -> str | None:
    headers = msg.headers() or []
    for key, value in headers.items() if isinstance(headers, dict) else headers:
        if key == name:
            return value.decode() if isinstance(value, bytes) else value
    return None


class Target(Protocol):
    name: str
    result_topic: str

    async def send(self, request_id: str, body: dict) -> None: ...

    async def close(self) -> None: ...


class KafkaTarget:
    """Produces request records; the Restate subscription (or a baseline consumer) picks them up."""

    def __init__(self, name: str, request_topic: str, result_topic: str, keyed_by_id: bool = True):
        self.name = name
        self.request_topic = request_topic
        self.result_topic = result_topic
        self.keyed_by_id = keyed_by_id
        self.failures = 0
        self.producer = Producer(
            client_config(
                **{
                    "enable.idempotence": True,
                    "linger.ms": 1,  # send at once: a batching delay would count as pipeline latency
                }
            )
        )
        # Fetch metadata and connect now, so the first measured requests do not pay for it.
        self.producer.list_topics(request_topic, timeout=10)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="bench-producer", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def _delivered(self, err, _msg) -> None:
        if err is not None:
            self.failures += 1

    async def send(self, request_id: str, body: dict) -> None:
        # The key spreads requests over partitions (and is the chat session id).
        self.producer.produce(
            self.request_topic,
            value=json.dumps(body).encode(),
            key=request_id if self.keyed_by_id else None,
            on_delivery=self._delivered,
        )

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.producer.flush, 10)
        self._stop.set()


class IngressTarget:
    """POSTs the request to the pattern handler over Restate's HTTP ingress (no Kafka on the way in).

    The call returns when the invocation ends; it runs as a task, and the result
    record is awaited like for the Kafka targets so both are measured the same way.
    HTTP/2 without TLS (Restate's ingress speaks it): with hundreds of calls open,
    httpx's HTTP/1.1 pool costs the driver several ms of CPU per call (one
    connection per call, scanned on every request), which would make the driver
    the bottleneck. httpx allows 100 streams per HTTP/2 connection, so calls
    are spread round-robin over several clients, one connection each.
    """

    STREAMS_PER_CONNECTION = 100

    def __init__(self, name: str, path: str, result_topic: str, max_connections: int = 1000):
        self.name = name
        self.path = path  # "/CallChainingService/run"; "{key}" is replaced by the request id
        self.result_topic = result_topic
        self.failures = 0
        self.reply_seconds: list[float] = []
        try:
            import h2  # noqa: F401 - httpx needs it for HTTP/2 (hypercorn brings it)

            http2, shards = True, -(-max_connections // self.STREAMS_PER_CONNECTION)
        except ImportError:
            http2, shards = False, 1
        self.clients = [
            httpx.AsyncClient(
                base_url=get_settings().restate_ingress_url,
                http1=not http2,
                http2=http2,
                limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
                timeout=httpx.Timeout(300.0, connect=10.0),
            )
            for _ in range(shards)
        ]
        self._next = 0
        self._tasks: set[asyncio.Task] = set()

    async def send(self, request_id: str, body: dict) -> None:
        task = asyncio.create_task(self._post(request_id, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, request_id: str, body: dict) -> None:
        started = time.monotonic()
        try:
            client = self.clients[self._next % len(self.clients)]
            self._next += 1
            response = await client.post(self.path.replace("{key}", request_id), json=body)
            response.raise_for_status()
            self.reply_seconds.append(time.monotonic() - started)
        except httpx.HTTPError:
            self.failures += 1

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=30)
        for client in self.clients:
            await client.aclose()


@dataclass
class LoadRun:
    """Everything one driver run produced; ``window`` is the measured part (after warm-up)."""

    outcomes: list[LoadOutcome] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)


def new_run_id() -> str:
    return uuid.uuid4().hex[:6]


async def one_request(
    target: Target, watcher: ResultWatcher, request_id: str, body: dict, timeout: float
) -> LoadOutcome:
    future = watcher.expect(request_id)
    outcome = LoadOutcome(request_id, time.monotonic())
    try:
        await target.send(request_id, {**body, "request_id": request_id})
    except Exception:  # noqa: BLE001 - a failed send is a measured failure, not a crash of the run
        watcher.forget(request_id)
        outcome.status = "send-failed"
        return outcome
    try:
        outcome.done, outcome.status = await asyncio.wait_for(future, timeout)
    except TimeoutError:
        watcher.forget(request_id)
        outcome.status = "timeout"
    return outcome


async def closed_loop(
    target: Target,
    watcher: ResultWatcher,
    body: dict,
    *,
    in_flight: int,
    duration: float,
    warmup: float,
    id_prefix: str,
    request_timeout: float,
) -> LoadRun:
    """N workers, each sends a request, waits for its result, sends the next; stops after warm-up + duration."""
    run = LoadRun()
    start = time.monotonic()
    stop_at = start + warmup + duration
    run.window = (start + warmup, stop_at)
    counter = iter(range(10**9))

    async def worker() -> None:
        while time.monotonic() < stop_at:
            request_id = f"{id_prefix}-{next(counter)}"
            run.outcomes.append(await one_request(target, watcher, request_id, body, request_timeout))

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return run


async def open_loop(
    target: Target,
    watcher: ResultWatcher,
    body: dict,
    *,
    rate: float,
    duration: float,
    warmup: float,
    id_prefix: str,
    request_timeout: float,
) -> LoadRun:
    """Sends at ``rate`` per second for warm-up + duration, then waits (bounded) for what is outstanding."""
    run = LoadRun()
    start = time.monotonic()
    total = int(rate * (warmup + duration))
    run.window = (start + warmup, start + warmup + duration)
    tasks = []
    for i in range(total):
        # Scheduled times, not "sleep 1/rate": a slow send must not lower the offered rate.
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_request(target, watcher, f"{id_prefix}-{i}", body, request_timeout)))
    run.outcomes = list(await asyncio.gather(*tasks))
    return run


async def burst(
    target: Target, watcher: ResultWatcher, body: dict, *, count: int, id_prefix: str, request_timeout: float
) -> LoadRun:
    """``count`` requests sent at once (the in-flight memory variant)."""
    run = LoadRun()
    start = time.monotonic()
    tasks = [
        asyncio.create_task(one_request(target, watcher, f"{id_prefix}-{i}", body, request_timeout))
        for i in range(count)
    ]
    run.outcomes = list(await asyncio.gather(*tasks))
    run.window = (start, time.monotonic())
    return run


def results_seen(outcomes: list[LoadOutcome]) -> int:
    """Requests whose result record came back (whatever its status)."""
    return sum(1 for o in outcomes if o.done is not None)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * q / 100
    low = int(k)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (k - low)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def status_counts(outcomes: list[LoadOutcome]) -> dict[str, int]:
    """How many requests ended with each status ("none": no status at all)."""
    return dict(Counter(o.status or "none" for o in outcomes))


def summarize(run: LoadRun) -> dict:
    """Latency over requests sent inside the window; throughput = results seen inside the window per second."""
    start, end = run.window
    measured = [o for o in run.outcomes if start <= o.sent <= end]
    ok = sorted(o.latency * 1000 for o in measured if o.status == "ok" and o.latency is not None)
    completed_in_window = sum(1 for o in run.outcomes if o.done is not None and start <= o.done <= end)
    statuses = status_counts(run.outcomes)
    seconds = max(end - start, 1e-9)
    # The whole run, warm-up and drain included: everything that came back, from the first send to the
    # last result. Above capacity the window's rate leaves out work already done for requests that
    # finish after it (Restate takes records in as they arrive); this rate does not.
    done = [o.done for o in run.outcomes if o.done is not None]
    first_sent = min((o.sent for o in run.outcomes), default=None)
    whole_s = (max(done) - first_sent) if done and first_sent is not None else None
    return {
        "sent": len(run.outcomes),
        "measured": len(measured),
        "ok": sum(1 for o in run.outcomes if o.status == "ok"),
        "statuses": statuses,
        "window_s": round(seconds, 2),
        "throughput_rps": round(completed_in_window / seconds, 1),
        "whole_run_rps": round(len(done) / whole_s, 1) if whole_s else None,
        "latency_ms": {
            name: _round(percentile(ok, q), 1)
            for name, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("max", 100))
        },
        "latency_ms_mean": round(sum(ok) / len(ok), 1) if ok else None,
    }
