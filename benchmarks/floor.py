"""The Restate floors: what durability costs a Kafka record before any LLM work.

(f) ``restate-floor``: the cheapest durable path a record can take through Restate.

    record on bench.requests.floor ─(subscription, same options as the pipeline's)─▶
    BenchFloor/handle: one journaled step that publishes {request_id, status: ok} ─▶ bench.results.floor

(g) ``restate-shape``: the durable shape the pipeline's contract asks of every
chaining request, with every LLM call replaced by a step that returns at once.

    record on bench.requests.shape ─▶ BenchShape/ingest ─one-way─▶ BenchShapeIds[request id]/take:
        claim the id in state, three journaled steps (chaining's three LLM calls), one journaled publish,
        release the claim ─▶ bench.results.shape

The floor is Restate's Kafka ingress with one invocation and one journaled step;
the pipeline's throughput and CPU against it is its orchestration overhead. The
shape leaves out the ingest's validation, the request's own encoding and the
day-long timer that forgets a claim (it releases the claim instead, so a run
leaves no state behind): it is a lower bound on what the pipeline's durability
costs, whatever the agent service does (`agentpipe bench --variants
restate-kafka,restate-floor,restate-shape,...`).

The handlers run in their own process (``python -m benchmarks.floor --port P``),
registered as their own deployment for the run and removed afterwards, with the
subscription, so the stack is left as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import sys
from dataclasses import dataclass

import restate
from restate.serde import BytesSerde

from agentpipe.kafka_publisher import get_publisher
from agentpipe.settings import get_settings
from benchmarks.baselines import stop_process
from handlers import chaining
from subscriptions.kafka_topics import create_topics
from subscriptions.restate_admin import _check, admin_client, create_subscription


@dataclass(frozen=True)
class FloorKind:
    """One floor variant: the topics it reads and writes and the handler its subscription feeds."""

    variant: str
    sink: str  # Service/handler
    requests: str
    results: str
    group: str


FLOOR = FloorKind(
    "restate-floor", "BenchFloor/handle", "bench.requests.floor", "bench.results.floor", "agentpipe-bench-floor"
)
SHAPE = FloorKind(
    "restate-shape", "BenchShape/ingest", "bench.requests.shape", "bench.results.shape", "agentpipe-bench-shape"
)
KINDS = {kind.variant: kind for kind in (FLOOR, SHAPE)}
SHAPE_IDS = "BenchShapeIds"
# The reply of each of chaining's three steps: about the size of one of the model's.
SHAPE_REPLY = "x" * 400

floor = restate.Service("BenchFloor")
shape = restate.Service("BenchShape")
shape_ids = restate.VirtualObject(SHAPE_IDS)


def request_id_of(raw: bytes) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        return ""
    return str(value.get("request_id", "")) if isinstance(value, dict) else ""


async def publish_result(results: str, request_id: str) -> None:
    await get_publisher().publish(
        results, request_id, {"request_id": request_id, "pattern": "floor", "status": "ok", "output": ""}
    )


@floor.handler("handle", accept="*/*", input_serde=BytesSerde())
async def handle(ctx: restate.Context, raw: bytes) -> None:
    request_id = request_id_of(raw)
    if request_id:
        await ctx.run_typed("Publish result", publish_result, results=FLOOR.results, request_id=request_id)


@shape.handler("ingest", accept="*/*", input_serde=BytesSerde())
async def ingest(ctx: restate.Context, raw: bytes) -> None:
    request_id = request_id_of(raw)
    if request_id:  # one-way, like the pipeline's hand-on to its request id's object
        ctx.generic_send(SHAPE_IDS, "take", raw, key=request_id)


async def no_llm() -> str:
    return SHAPE_REPLY


@shape_ids.handler("take", accept="*/*", input_serde=BytesSerde())
async def take(ctx: restate.ObjectContext, raw: bytes) -> None:
    if await ctx.get("claim", type_hint=str) is not None:
        return  # a repeat: the pipeline drops it too
    ctx.set("claim", hashlib.sha256(raw).hexdigest())
    for step in chaining.STEPS:  # chaining's three LLM calls, each a journaled step
        await ctx.run_typed(step, no_llm)
    await ctx.run_typed("Publish result", publish_result, results=SHAPE.results, request_id=ctx.key())
    ctx.clear("claim")  # the pipeline keeps it a day (a timer); a benchmark must leave no state behind


def ensure_floor_topics(timeout: float = 30.0) -> None:
    partitions = get_settings().request_partitions
    create_topics(
        {t: n for kind in KINDS.values() for t, n in ((kind.requests, partitions), (kind.results, 1))}, timeout=timeout
    )


class FloorProcess:
    """Starts the floors' deployment, registers it and subscribes ``kind``'s handler; ``stop`` undoes all three."""

    def __init__(self, kind: FloorKind = FLOOR) -> None:
        self.kind = kind
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.deployment_id: str | None = None
        self.subscription_id: str | None = None

    async def start(self, timeout: float = 60.0) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        ensure_floor_topics()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.floor", "--port", str(self.port), stdin=asyncio.subprocess.DEVNULL
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                break
            except OSError:
                if self.process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise RuntimeError(f"the floor deployment did not start on port {self.port}") from None
                await asyncio.sleep(0.2)
        await asyncio.to_thread(self._register)
        return self.process.pid

    def _register(self) -> None:
        settings = get_settings()
        with admin_client() as client:
            answer = _check(client.post("/deployments", json={"uri": f"http://127.0.0.1:{self.port}/"}), "floor")
            self.deployment_id = answer.json()["id"]
            options = {
                # One group across runs: its committed offsets skip what earlier runs sent.
                "auto.offset.reset": "earliest",
                "group.id": self.kind.group,
                "auto.commit.interval.ms": "1000",
                "session.timeout.ms": "10000",
                "heartbeat.interval.ms": "3000",
            }
            source = f"kafka://{settings.restate_kafka_cluster}/{self.kind.requests}"
            self.subscription_id = create_subscription(client, source, f"service://{self.kind.sink}", options)["id"]

    def _unregister(self) -> None:
        with admin_client() as client:
            if self.subscription_id:
                _check(client.delete(f"/subscriptions/{self.subscription_id}"), "removing the floor subscription")
            if self.deployment_id:
                _check(
                    client.delete(f"/deployments/{self.deployment_id}", params={"force": "true"}),
                    "removing the floor deployment",
                )

    async def stop(self) -> None:
        try:
            await asyncio.to_thread(self._unregister)
        finally:
            await stop_process(self.process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    from handlers.serve import serve  # the agent service's server: HTTP/2, identity keys required

    serve(
        lambda: restate.app(services=[floor, shape, shape_ids], identity_keys=get_settings().request_identity_keys),
        lambda _settings: port,
        "bench-floor",
    )


if __name__ == "__main__":
    main()
