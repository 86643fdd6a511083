"""Serve a Restate ASGI app with hypercorn over HTTP/2 cleartext (what restate-server speaks).

A deployment refuses to start, with one line naming what is missing, when its
settings are invalid or when it would accept calls from anyone: without request
identity keys any process that reaches the port could speak Restate's protocol
and hand a handler a made-up journal.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

import hypercorn.asyncio
from hypercorn.config import Config
from pydantic import ValidationError
from restate.server import install_shutdown_hook
from restate.server_types import RestateAppT

if TYPE_CHECKING:
    from hypercorn.typing import ASGIFramework

from agentpipe.logs import configure_logging, get_logger
from agentpipe.settings import Settings, describe_settings_error, get_settings
from handlers.h2_send_order import use_round_robin
from handlers.llm import close_llm_client

Check = Callable[[Settings], str | None]


def require_identity_keys(settings: Settings) -> str | None:
    if not settings.request_identity_keys:
        return (
            "no request identity key: set AGENTPIPE_REQUEST_IDENTITY_KEYS to restate-server's public key "
            "(publickeyv1_...), or start the stack with `agentpipe up`, which makes one"
        )
    return None


def require_approval_key(settings: Settings) -> str | None:
    if settings.approval_key is None:
        return (
            "no approval key: set AGENTPIPE_APPROVAL_KEY (non-empty), or start the stack with "
            "`agentpipe up`, which makes one; without it no decision could ever be accepted"
        )
    return None


def startup_problem(checks: Iterable[Check]) -> str | None:
    """The first reason not to start, as one line; None when all is well."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        return describe_settings_error(exc)
    return next((problem for check in checks if (problem := check(settings))), None)


def server_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.h2_max_concurrent_streams = 1000
    # hypercorn ends a connection (GOAWAY) after this many requests, 1000 by default; restate-server
    # runs every invocation as a stream of a long-lived connection, so each close broke the hundreds
    # in flight on it (restate-server retried them: journals replayed, unfinished steps run again).
    config.keep_alive_max_requests = 2**62
    config.keep_alive_timeout = 75
    config.accesslog = None
    # restate-server keeps HTTP/2 connections open; do not wait for them on shutdown.
    config.graceful_timeout = 2.0
    return config


def serve(
    build_app: Callable[[], RestateAppT],
    port_of: Callable[[Settings], int],
    component: str,
    checks: Iterable[Check] = (require_identity_keys,),
) -> None:
    problem = startup_problem(checks)
    if problem:
        print(f"{component}: refusing to start: {problem}", file=sys.stderr, flush=True)
        raise SystemExit(2)
    settings = get_settings()
    configure_logging(component)
    config = server_config(settings.bind_host, port_of(settings))
    use_round_robin()
    app = build_app()
    shutdown = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # The Restate app installs its own SIGTERM dispatcher on first request, replacing any
        # handler set here; registering through it keeps our shutdown working.
        install_shutdown_hook(loop, shutdown.set, signal.SIGTERM)
        install_shutdown_hook(loop, shutdown.set, signal.SIGINT)
        get_logger(component).info("serving", port=port_of(settings), host=settings.bind_host)
        # hypercorn types an ASGI app down to each event; the Restate app is a plain ASGI 3 callable.
        await hypercorn.asyncio.serve(cast("ASGIFramework", app), config, shutdown_trigger=shutdown.wait)
        await close_llm_client()

    asyncio.run(main())
