"""``python -m offline_model``: serve the deterministic stand-in for a real LLM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from agentpipe.settings import get_settings
from offline_model.limits import RateLimits
from offline_model.server import OfflineModelApp, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m offline_model",
        description="Deterministic OpenAI-compatible stand-in for a real LLM (rule-based, no model).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    settings = get_settings()
    parser.add_argument("--port", type=int, default=settings.offline_model_port)
    # A limited provider, answering 429 like OpenAI when a model's limit is exceeded (offline_model/limits.py).
    parser.add_argument(
        "--requests-per-second",
        type=float,
        default=settings.offline_model_requests_per_s,
        help="requests per second each model takes (default: AGENTPIPE_OFFLINE_MODEL_REQUESTS_PER_S, else no limit)",
    )
    parser.add_argument(
        "--tokens-per-minute",
        type=float,
        default=settings.offline_model_tokens_per_min,
        help="tokens per minute each model takes (default: AGENTPIPE_OFFLINE_MODEL_TOKENS_PER_MIN, else no limit)",
    )
    args = parser.parse_args(argv)
    try:
        limits = RateLimits(requests_per_s=args.requests_per_second, tokens_per_min=args.tokens_per_minute)
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(_run(args.host, args.port, limits))


async def _run(host: str, port: int, limits: RateLimits) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"offline model (deterministic stand-in for an LLM) on http://{host}:{port}/v1", file=sys.stderr, flush=True)
    if limits.active:
        print(f"offline model limits: {limits}", file=sys.stderr, flush=True)

    async def stopped() -> None:
        await stop.wait()

    await serve(host, port, shutdown_trigger=stopped, asgi_app=OfflineModelApp(limits))


if __name__ == "__main__":
    main()
