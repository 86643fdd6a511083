"""The Restate floor: the cheapest durable path a Kafka record can take through Restate.

    record on bench.requests.floor ─(subscription, same options as the pipeline's)─▶
    BenchFloor/handle: one journaled step that publishes {request_id, status: ok} ─▶ bench.results.floor

No intake, no request-id claim, no LLM: what is left is Restate's Kafka ingress,
one invocation with one journaled step, and the acknowledged publish the pipeline
also ends with. The pipeline's throughput and CPU against this floor is its own
orchestration overhead (`agentpipe bench --variants restate-floor,...`).

The handler runs in its own process (``python -m benchmarks.floor --port P``), is
registered as its own deployment for the run and removed afterwards, with its
subscription, so the stack is left as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys

import restate
from restate.serde import BytesSerde

from agentpipe.kafka_publisher import get_publisher
from agentpipe.settings import get_settings
from benchmarks.baselines import stop_process
from subscriptions.kafka_topics import create_topics
from subscriptions.restate_admin import _check, admin_client, create_subscription

SERVICE, HANDLER = "BenchFloor", "handle"
REQUESTS, RESULTS = "bench.requests.floor", "bench.results.floor"
GROUP = "agentpipe-bench-floor"

floor = restate.Service(SERVICE)


def request_id_of(raw: bytes) -> str:
    try:
        value = json.loads(raw)
    except ValueError:
        return ""
    return str(value.get("request_id", "")) if isinstance(value, dict) else ""


async def publish_result(request_id: str) -> None:
    await get_publisher().publish(
        RESULTS, request_id, {"request_id": request_id, "pattern": "floor", "status": "ok", "output": ""}
    )


@floor.handler(HANDLER, accept="*/*", input_serde=BytesSerde())
async def handle(ctx: restate.Context, raw: bytes) -> None:
    request_id = request_id_of(raw)
    if request_id:
        await ctx.run_typed("Publish result", publish_result, request_id=request_id)


def ensure_floor_topics(timeout: float = 30.0) -> None:
    create_topics({REQUESTS: get_settings().request_partitions, RESULTS: 1}, timeout=timeout)


class FloorProcess:
    """Starts the floor's deployment, registers it and subscribes it; ``stop`` undoes all three."""

    def __init__(self) -> None:
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
                "group.id": GROUP,
                "auto.commit.interval.ms": "1000",
                "session.timeout.ms": "10000",
                "heartbeat.interval.ms": "3000",
            }
            source = f"kafka://{settings.restate_kafka_cluster}/{REQUESTS}"
            self.subscription_id = create_subscription(client, source, f"service://{SERVICE}/{HANDLER}", options)["id"]

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
        lambda: restate.app(services=[floor], identity_keys=get_settings().request_identity_keys),
        lambda _settings: port,
        "bench-floor",
    )


if __name__ == "__main__":
    main()
