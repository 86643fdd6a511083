"""ASGI app of the offline model: a deterministic stand-in for a real LLM that
speaks the OpenAI Chat Completions protocol.

No web framework: a handful of routes, JSON in and out. Replies come from
``rules.reply``; latency and faults from ``faults.Controls``. Every completion
call is logged (with the X-Agentpipe-* headers) for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from hypercorn.typing import ASGIFramework
from urllib.parse import parse_qs

from agentpipe.settings import OFFLINE_MODEL_NAME
from offline_model import rules
from offline_model.conversation import text_of, tool_names
from offline_model.faults import FAIL, HANG, MALFORMED_JSON, MALFORMED_TOOL_ARGS, VARIANTS, CallLog, Controls, Fault
from offline_model.limits import Limiter, RateLimits

MAX_BODY_BYTES = 16 * 1024 * 1024
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, message: str, code: str | None = None) -> Response:
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return Response(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


class OfflineModelApp:
    """The ASGI application; one instance holds the controls and the call log."""

    def __init__(self, limits: RateLimits | None = None) -> None:
        self.controls = Controls()
        self.log = CallLog()
        # The limits it started with (a reset returns to them); /control/limits changes them.
        self.start_limits = limits or RateLimits()
        self.limiter = Limiter(self.start_limits)
        self.routes: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]] = {
            ("GET", "/health"): self.health,
            ("GET", "/v1/models"): self.models,
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("POST", "/chat/completions"): self.chat_completions,  # base_url without /v1
            ("GET", "/control"): self.control_state,
            ("POST", "/control/latency"): self.set_latency,
            ("POST", "/control/variant"): self.set_variant,
            ("POST", "/control/limits"): self.set_limits,
            ("POST", "/control/fail"): self.add_fault(FAIL),
            ("POST", "/control/hang"): self.add_fault(HANG),
            ("POST", "/control/malformed-tool-args"): self.add_fault(MALFORMED_TOOL_ARGS),
            ("POST", "/control/malformed-json"): self.add_fault(MALFORMED_JSON),
            ("POST", "/control/reset"): self.reset,
            ("GET", "/calls"): self.calls,
            ("DELETE", "/calls"): self.clear_calls,
        }

    # -- ASGI plumbing ------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body, too_large = b"", False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if len(body) < MAX_BODY_BYTES:
                body += message.get("body", b"")
            else:
                too_large = True
            if not message.get("more_body"):
                break
        request = Request(
            method=scope["method"],
            path=scope["path"].rstrip("/") or "/",
            query=parse_qs(scope.get("query_string", b"").decode("latin-1")),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])},
            body=body,
        )
        if too_large:
            response = error(413, "request body too large")
        else:
            response = await self._dispatch(request)
        payload = json.dumps(response.body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in response.headers.items()]
        try:
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
        except (OSError, RuntimeError):
            pass  # the client gave up (e.g. after a hang); nothing left to do

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _dispatch(self, request: Request) -> Response:
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            known = any(path == request.path for _, path in self.routes)
            return error(405 if known else 404, f"{request.method} {request.path} is not supported")
        try:
            return await handler(request)
        except ValueError as exc:  # bad JSON or bad control values
            return error(400, str(exc))

    # -- model endpoints ------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return Response(200, {"status": "ok"})

    async def models(self, request: Request) -> Response:
        model = {"id": OFFLINE_MODEL_NAME, "object": "model", "created": 0, "owned_by": "agentpipe-offline"}
        return Response(200, {"object": "list", "data": [model]})

    async def chat_completions(self, request: Request) -> Response:
        request_id = request.headers.get("x-agentpipe-request-id")
        step, pattern = request.headers.get("x-agentpipe-step"), request.headers.get("x-agentpipe-pattern")
        try:
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise ValueError("'messages' must be a list")
        except ValueError as exc:
            self.log.finish(self.log.start(request_id, step, pattern, []), 400)
            return error(400, f"invalid request body: {exc}")
        entry = self.log.start(request_id, step, pattern, tool_names(body))

        # Faults are taken before any await so concurrent calls consume them in arrival order.
        fault = self.controls.take(HANG, request_id, step) or self.controls.take(FAIL, request_id, step)
        if fault is not None:
            entry["fault"] = fault.kind  # visible while a hang is still sleeping
        if self.controls.latency_ms > 0:
            await asyncio.sleep(self.controls.latency_ms / 1000)
        if fault is not None and fault.kind == HANG:
            await asyncio.sleep(fault.seconds or 0)
        if fault is not None and fault.kind == FAIL:
            response = self._failure(fault.status or 500, request.headers.get("authorization", ""))
            self.log.finish(entry, response.status, FAIL)
            return response
        if body.get("stream"):
            self.log.finish(entry, 400, fault.kind if fault else None)
            return error(400, "the offline model does not support stream=true")

        if self.controls.variant == "b" and rules.VARIANT_B_REFUSES in json.dumps(body.get("messages")):
            self.log.finish(entry, 400, "variant_b")
            return error(400, f"variant b refuses requests that mention {rules.VARIANT_B_REFUSES!r}")
        try:
            answer = rules.reply(body, self.controls.variant)
        except Exception as exc:  # noqa: BLE001 - a rule bug must not leave the caller or the log entry hanging
            self.log.finish(entry, 500, "rule_error")
            return error(500, f"offline model rule failed: {exc!r}")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        message = completion_message(answer, digest)
        tokens = usage(body, message)
        # After the answer is known, so the call is charged what it really costs; a refused call costs nothing.
        model = str(body.get("model") or OFFLINE_MODEL_NAME)
        verdict = self.limiter.take(model, time.monotonic(), tokens["total_tokens"])
        if verdict is not None and not verdict.allowed:
            response = error(
                429,
                f"Rate limit reached for {verdict.limited_by} (offline model limits of {model}: "
                f"{self.limiter.limits_for(model)}). "
                f"Please try again in {verdict.retry_after_s:.3f}s.",
                "rate_limit_exceeded",
            )
            response.headers.update(verdict.headers)
            self.log.finish(entry, 429, "rate_limited")
            return response
        response_format = body.get("response_format")
        wants_schema = isinstance(response_format, dict) and response_format.get("type") == "json_schema"
        if fault is None and answer.tool_calls and self.controls.take(MALFORMED_TOOL_ARGS, request_id):
            fault = Fault(MALFORMED_TOOL_ARGS, 0)
            for call in message["tool_calls"]:
                call["function"]["arguments"] = call["function"]["arguments"][:-1]  # drop the closing brace
        if fault is None and wants_schema and self.controls.take(MALFORMED_JSON, request_id):
            fault = Fault(MALFORMED_JSON, 0)
            message["content"] = "Here is the JSON you asked for: " + (message["content"] or "")[:-2]

        completion = {
            "id": f"chatcmpl-{digest[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or OFFLINE_MODEL_NAME,
            "system_fingerprint": "agentpipe-offline-deterministic",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if answer.tool_calls else "stop",
                }
            ],
            "usage": tokens,
        }
        self.log.finish(
            entry,
            200,
            fault.kind if fault else None,
            rule=answer.rule,
            tool_calls=[c.name for c in answer.tool_calls],
            usage=completion["usage"],
        )
        return Response(200, completion, headers=verdict.headers if verdict else {})

    @staticmethod
    def _failure(status: int, authorization: str = "") -> Response:
        if status == 401:
            # As a real provider does: the message echoes the start and the tail of the key it got.
            key = authorization.removeprefix("Bearer ").strip()
            shown = f"{key[:8]}{'*' * max(len(key) - 12, 4)}{key[-4:]}" if len(key) > 12 else "***"
            return error(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key in your "
                "account settings (injected by the offline model).",
                "invalid_api_key",
            )
        if status == 429:
            response = error(429, "Rate limit reached (injected by the offline model).", "rate_limit_exceeded")
            response.headers["retry-after-ms"] = "50"
            return response
        return error(status, f"Injected failure with HTTP {status} (offline model).")

    # -- controls and call log ------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {**self.controls.state(), "limits": self.limiter.state()}

    async def control_state(self, request: Request) -> Response:
        return Response(200, self.state())

    async def set_latency(self, request: Request) -> Response:
        ms = float(request.json().get("ms", 0))
        if ms < 0:
            raise ValueError("ms must be >= 0")
        self.controls.latency_ms = ms
        return Response(200, self.state())

    async def set_variant(self, request: Request) -> Response:
        variant = request.json().get("variant")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}")
        self.controls.variant = variant
        return Response(200, self.state())

    def add_fault(self, kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            data = request.json()
            count = int(data.get("count", 1))
            match, step = data.get("match"), data.get("step")
            if count < 0 or any(v is not None and not isinstance(v, str) for v in (match, step)):
                raise ValueError("count must be >= 0, match and step strings")
            fault = Fault(kind, count, match or None, step=step or None)
            if kind == FAIL:
                fault.status = int(data.get("status", 500))
                if not 400 <= fault.status <= 599:
                    raise ValueError("status must be an HTTP error status (400-599)")
            if kind == HANG:
                fault.seconds = float(data.get("seconds", 30))
            self.controls.add(fault)
            return Response(200, self.state())

        return handler

    async def set_limits(self, request: Request) -> Response:
        data = request.json()
        if not isinstance(data, dict) or set(data) - {"model", "requests_per_s", "tokens_per_min", "burst_s"}:
            raise ValueError("limits take model (absent: every model), requests_per_s, tokens_per_min and burst_s")
        model = data.pop("model", None)
        if model is not None and not isinstance(model, str):
            raise ValueError("model must be a string")
        try:
            limits = RateLimits(**data)  # checks the values
        except TypeError:
            raise ValueError("limits must be numbers (or null for no limit)") from None
        self.limiter.configure(limits, model)
        return Response(200, self.state())

    async def reset(self, request: Request) -> Response:
        self.controls.reset()
        self.limiter.reset(self.start_limits)
        return Response(200, self.state())

    async def calls(self, request: Request) -> Response:
        request_id = request.query.get("request_id", [None])[0]
        return Response(200, {"calls": self.log.entries(request_id)})

    async def clear_calls(self, request: Request) -> Response:
        self.log.clear()
        return Response(200, {"calls": []})


def completion_message(answer: rules.Reply, digest: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_calls:
        # Ids derive from the request, so a retried request yields the same ids.
        message["tool_calls"] = [
            {
                "id": f"call_{digest[:16]}_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for i, call in enumerate(answer.tool_calls)
        ]
    return message


def usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    # Word counts stand in for tokens: enough for code that reads usage.
    prompt = sum(len(text_of(m.get("content")).split()) for m in body["messages"] if isinstance(m, dict))
    completion = len((message.get("content") or "").split())
    completion += sum(len(c["function"]["arguments"].split()) for c in message.get("tool_calls", []))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


app = OfflineModelApp()


async def serve(
    host: str = "127.0.0.1",
    port: int = 9099,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    asgi_app: OfflineModelApp | None = None,
) -> None:
    """Serve the app (the module's ``app`` by default) with hypercorn until ``shutdown_trigger`` returns."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.backlog = 4096
    config.graceful_timeout = 1.0
    # Longer than httpx's 5 s keep-alive, so the server never closes a connection the client reuses.
    config.keep_alive_timeout = 75.0
    # An ASGI 3 app; hypercorn's type for one spells out every event type, which this app does not.
    await hypercorn_serve(cast("ASGIFramework", asgi_app or app), config, shutdown_trigger=shutdown_trigger)
