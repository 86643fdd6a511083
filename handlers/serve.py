"""Serve a Restate ASGI app with hypercorn over HTTP/2 cleartext (what restate-server speaks)."""

from __future__ import annotations

import asyncio
import signal

import hypercorn.asyncio
from hypercorn.config import Config
from restate.server import install_shutdown_hook

from agentpipe.logs import configure_logging, get_logger


def serve(app, port: int, component: str, host: str = "0.0.0.0") -> None:
    configure_logging(component)
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.h2_max_concurrent_streams = 1000
    config.keep_alive_timeout = 75
    config.accesslog = None
    # restate-server keeps HTTP/2 connections open; do not wait for them on shutdown.
    config.graceful_timeout = 2.0
    shutdown = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # The Restate app installs its own SIGTERM dispatcher on first request, replacing any
        # handler set here; registering through it keeps our shutdown working.
        install_shutdown_hook(loop, shutdown.set, signal.SIGTERM)
        install_shutdown_hook(loop, shutdown.set, signal.SIGINT)
        get_logger(component).info("serving", port=port)
        await hypercorn.asyncio.serve(app, config, shutdown_trigger=shutdown.wait)

    asyncio.run(main())
