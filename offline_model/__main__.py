"""``python -m offline_model``: serve the deterministic stand-in for a real LLM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from agentpipe.settings import get_settings
from offline_model.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m offline_model",
        description="Deterministic OpenAI-compatible stand-in for a real LLM (rule-based, no model).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=get_settings().offline_model_port)
    args = parser.parse_args(argv)
    asyncio.run(_run(args.host, args.port))


async def _run(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"offline model (deterministic stand-in for an LLM) on http://{host}:{port}/v1", file=sys.stderr, flush=True)

    async def stopped() -> None:
        await stop.wait()

    await serve(host, port, shutdown_trigger=stopped)


if __name__ == "__main__":
    main()
