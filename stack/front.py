"""The front of Restate's ingress and admin API: what a browser or an unknown host name reaches instead.

    browser / curl / agentpipe ──TCP 8080──▶ front ──unix socket──▶ restate-server's ingress
                                ──TCP 9070──▶ front ──unix socket──▶ restate-server's admin API

restate-server (1.7) answers every CORS preflight with the caller's origin, checks no Host header,
and serves its attach, output and awakeable routes to whoever names an id. So in the local stack
it listens on Unix sockets only (in the state folder, 0700), and this front takes the TCP ports:

- a Host header that is not this machine's loopback name and port (or one listed in
  AGENTPIPE_FRONT_HOSTS) is refused: a DNS-rebinding page names its own host;
- a request from a browser page of another origin (``Origin`` not the front's own, or
  ``Sec-Fetch-Site: cross-site``) is refused, and so is every CORS preflight: no page elsewhere
  can call in, with or without a preflight;
- the ingress passes only the public entry points (the ten pattern handlers, Chat's message and
  history) and Restate's health; everything under /restate/ is refused (attach, output, awakeables);
- bodies are bounded (Restate's own ingress limit).

The admin API passes whole (it is the operators' tool) but only to a loopback Host and without a
foreign origin. Routes come from AGENTPIPE_FRONT_ROUTES (the supervisor writes them): which port is
which kind, and where its restate-server listens (``unix:<path>`` or ``http://host:port``).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import httpx
import hypercorn.asyncio
from hypercorn.config import Config
from pydantic import BaseModel, TypeAdapter

from agentpipe.logs import configure_logging, get_logger
from agentpipe.settings import get_settings
from handlers.catalog import PATTERNS

log = get_logger(__name__)

ROUTES_ENV = "AGENTPIPE_FRONT_ROUTES"
HOSTS_ENV = "AGENTPIPE_FRONT_HOSTS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# Headers that belong to one hop, not to the request (RFC 9110 7.6.1), and the front's own.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
# A Unix socket address has room for 107 bytes of path; a deeper one is reached relative to the
# working folder (as restate-server binds it).
MAX_SOCKET_PATH = 107

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class FrontRoute(BaseModel):
    kind: Literal["ingress", "admin"]
    listen: int  # the TCP port callers use
    backend: str  # "unix:/path/to/ingress.sock" or "http://restate:8080"


def public_paths() -> re.Pattern[str]:
    """The ingress paths the front passes: the entry points over HTTP, as tests/unit/test_public_surface.py lists."""
    entries = [
        rf"/{re.escape(p.service)}/[^/]+/{re.escape(p.handler)}" if p.keyed else f"/{p.service}/{p.handler}"
        for p in PATTERNS.values()
    ]
    readers = [
        rf"/{re.escape(p.service)}/[^/]+/{re.escape(reader.__name__)}"
        for p in PATTERNS.values()
        for reader in p.readers
    ]
    return re.compile(rf"(?:{'|'.join(entries + readers)})(?:/send)?|/restate/health")


def allowed_hosts(port: int, extra: list[str]) -> set[str]:
    return {f"{name}:{port}" for name in LOOPBACK_NAMES} | set(extra)


def refusal(scope: Scope, route: FrontRoute, hosts: set[str], paths: re.Pattern[str]) -> tuple[int, str] | None:
    """Why the front refuses this request (status, reason), or None when it passes."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host", "")
    if host not in hosts:
        return 421, f"unknown host {host[:100]!r}: call {route.kind} as 127.0.0.1:{route.listen}"
    origin = headers.get("origin")
    if origin is not None and origin != f"http://{host}":
        return 403, "cross-origin calls are refused"
    if headers.get("sec-fetch-site") == "cross-site":
        return 403, "cross-site calls are refused"
    if scope["method"] == "OPTIONS":
        return 403, "cross-origin calls are refused (no CORS)"
    if route.kind == "ingress" and not paths.fullmatch(scope["path"]):
        return 404, "not served over the ingress (see docs/contract.md, HTTP ingress)"
    return None


class Front:
    """The ASGI app: picks the route by the port a request came in on, checks it, forwards it."""

    def __init__(self, routes: list[FrontRoute], extra_hosts: list[str], body_limit: int):
        self.routes = {route.listen: route for route in routes}
        self.hosts = {route.listen: allowed_hosts(route.listen, extra_hosts) for route in routes}
        self.paths = public_paths()
        self.body_limit = body_limit
        self.clients = {route.listen: backend_client(route) for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        port = (scope.get("server") or ("", 0))[1]
        route = self.routes.get(port)
        if route is None:
            await answer(send, 404, "no route")
            return
        refused = refusal(scope, route, self.hosts[port], self.paths)
        if refused is not None:
            await read_body(receive, self.body_limit)  # read (bounded), so its keep-alive connection stays usable
            await answer(send, *refused)
            return
        body = await read_body(receive, self.body_limit)
        if body is None:
            await answer(send, 413, f"request body over {self.body_limit} bytes")
            return
        await self.forward(scope, route, body, send)

    async def forward(self, scope: Scope, route: FrontRoute, body: bytes, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in HOP_BY_HOP]
        target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
        client = self.clients[route.listen]
        try:
            request = client.build_request(scope["method"], target, headers=headers, content=body)
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            log.warning("restate-server unreachable", kind=route.kind, error=str(exc))
            await answer(send, 502, f"restate-server's {route.kind} is not reachable")
            return
        try:
            out = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in HOP_BY_HOP
            ]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


def backend_client(route: FrontRoute) -> httpx.AsyncClient:
    # An ingress call may wait as long as its handler runs (a review waits for a person): no read timeout.
    timeout = httpx.Timeout(connect=5.0, read=None if route.kind == "ingress" else 300.0, write=60.0, pool=None)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    if route.backend.startswith("unix:"):
        transport = httpx.AsyncHTTPTransport(uds=reachable_socket(Path(route.backend[5:])), limits=limits)
        return httpx.AsyncClient(transport=transport, base_url="http://restate", timeout=timeout)
    return httpx.AsyncClient(base_url=route.backend, timeout=timeout, limits=limits)


def reachable_socket(path: Path) -> str:
    """The path to connect to: absolute when it fits a socket address, else relative to the working folder."""
    absolute = str(path.resolve())
    if len(absolute.encode()) <= MAX_SOCKET_PATH:
        return absolute
    relative = os.path.relpath(absolute)
    if len(relative.encode()) <= MAX_SOCKET_PATH:
        return relative
    raise SystemExit(f"front: the socket path {absolute} is too long for a Unix socket; use a shorter state folder")


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is over ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def answer(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def routes_from_env() -> list[FrontRoute]:
    raw = os.environ.get(ROUTES_ENV)
    if not raw:
        raise SystemExit(f"front: {ROUTES_ENV} is not set (the supervisor sets it)")
    return TypeAdapter(list[FrontRoute]).validate_json(raw)


def main() -> None:
    configure_logging("front")
    settings = get_settings()
    routes = routes_from_env()
    extra = TypeAdapter(list[str]).validate_json(os.environ.get(HOSTS_ENV, "[]"))
    app = Front(routes, extra, settings.restate_ingress_limit_bytes)
    config = Config()
    config.bind = [f"{settings.bind_host}:{route.listen}" for route in routes]
    config.accesslog = None
    config.keep_alive_timeout = 75
    config.h2_max_concurrent_streams = 1000
    config.graceful_timeout = 2.0
    stop = asyncio.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info("front serving", routes=[r.model_dump() for r in routes])
        await hypercorn.asyncio.serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()
