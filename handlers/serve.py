"""Serve a Restate ASGI app with hypercorn over HTTP/2 cleartext (what restate-server speaks)."""

from __future__ import annotations

import asyncio
import signal

import hypercorn.asyncio
from hypercorn.config import Config

from agentpipe.logs import configure_logging, get_logger


def serve(app, port: int, component: str, host: str = "0.0.0.0") -> None:
    configure_logging(component)
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.h2_max_concurrent_streams = 1000
    config.keep_alive_timeout = 75
    config.accesslog = None
    shutdown = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        get_logger(component).info("serving", port=port)
        await hypercorn.asyncio.serve(app, config, shutdown_trigger=shutdown.wait)

    asyncio.run(main())
