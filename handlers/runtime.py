"""What every pattern handler shares: request context, journaled LLM/tool steps, result publishing.

A pattern module writes only its algorithm as ``async def work(run, request) -> Outcome``;
``run_pattern`` binds the logging context, turns terminal failures into an
``error`` result, and publishes exactly one result per request in a journaled step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Awaitable, Callable

import restate
from restate import RunOptions, TerminalError

from agentpipe.kafka_publisher import get_publisher
from agentpipe.logs import bind_request, get_logger
from agentpipe.messages import AgentRequest, AgentResult, DeadLetter, Source, Status, now_rfc3339
from handlers.llm import chat_completion, llm_run_options
from subscriptions.topics import dead_letters_topic, result_topic

log = get_logger(__name__)

# Publishing must eventually succeed (a broker restart is not a reason to lose a result).
PUBLISH_OPTIONS = RunOptions(
    initial_retry_interval=timedelta(milliseconds=200),
    max_retry_interval=timedelta(seconds=5),
    retry_interval_factor=2.0,
    type_hint=dict,
)
TOOL_OPTIONS_MAX_ATTEMPTS = 5
CANCELLED = 409  # status code of the TerminalError Restate raises in a cancelled invocation


@dataclass
class Outcome:
    output: str | list[str]
    status: Status = "ok"
    error: str | None = None
    route: str | None = None
    session_id: str | None = None


@dataclass
class PatternRun:
    """One invocation of a pattern: its context plus the ids every step and log line carries."""

    ctx: restate.Context
    pattern: str
    request_id: str

    async def llm(
        self,
        step: str,
        messages: list[dict],
        *,
        tools: list[dict] | None = None,
        response_format: dict | None = None,
    ) -> dict:
        """A journaled Chat Completions call; returns {"content", "tool_calls"}."""
        log.info("llm step", step=step)
        return await self.llm_future(step, messages, tools=tools, response_format=response_format)

    def llm_future(
        self,
        step: str,
        messages: list[dict],
        *,
        tools: list[dict] | None = None,
        response_format: dict | None = None,
    ) -> restate.RestateDurableFuture[dict]:
        """Like ``llm`` but not awaited, so several calls can run concurrently (restate.gather)."""
        return self.ctx.run_typed(
            step,
            chat_completion,
            llm_run_options(),
            step,
            messages,
            request_id=self.request_id,
            pattern=self.pattern,
            tools=tools,
            response_format=response_format,
        )

    async def ask(self, step: str, system: str, user: str) -> str:
        """The common case: one system prompt, one user message, text back."""
        reply = await self.llm(step, [{"role": "system", "content": system}, {"role": "user", "content": user}])
        return reply["content"] or ""

    def tool_future(self, step: str, fn: Callable[..., Awaitable[dict] | dict], **kwargs) -> restate.RestateDurableFuture[dict]:
        """A tool call as its own journaled step; a failed tool is retried alone."""
        options = RunOptions(
            max_attempts=TOOL_OPTIONS_MAX_ATTEMPTS,
            initial_retry_interval=timedelta(milliseconds=100),
            type_hint=dict,
        )
        return self.ctx.run_typed(step, fn, options, **kwargs)


def request_id_for(ctx: restate.Context, request: AgentRequest) -> str:
    """Body first, then the ``request-id`` header (HTTP ingress), then the invocation id."""
    if request.request_id:
        return request.request_id
    header = ctx.request().headers.get("request-id")
    if header:
        return header
    return ctx.request().id


async def run_pattern(
    ctx: restate.Context,
    pattern: str,
    request: AgentRequest,
    work: Callable[[PatternRun, Any], Awaitable[Outcome]],
) -> dict:
    request_id = request_id_for(ctx, request)
    bind_request(ctx.request().id, request_id, pattern)
    run = PatternRun(ctx, pattern, request_id)
    cancelled: TerminalError | None = None
    try:
        outcome = await work(run, request)
    except TerminalError as exc:
        log.warning("pattern failed", error=exc.message, status_code=exc.status_code)
        outcome = Outcome(output="", status="error", error=exc.message)
        if exc.status_code == CANCELLED:
            cancelled = exc
    result = AgentResult(
        request_id=request_id,
        pattern=pattern,
        status=outcome.status,
        output=outcome.output,
        error=outcome.error,
        session_id=outcome.session_id,
        route=outcome.route,
        source=request.source,
        replay_of=request.replay_of,
    )
    published = await publish_result(ctx, result)
    if cancelled is not None:
        # Readers still get their one result; Restate still records the invocation as cancelled.
        raise cancelled
    return published


async def _publish_stamped(
    topic: str, key: str | None, value: dict, time_field: str, headers: dict[str, str] | None = None
) -> dict:
    # The time is read inside the step, so a replay sees the journaled value.
    value = {**value, time_field: now_rfc3339()}
    await get_publisher().publish(topic, key=key, value=value, headers=headers)
    return value


async def publish_step(
    ctx: restate.Context, step: str, topic: str, key: str | None, value: dict, time_field: str,
    headers: dict[str, str] | None = None,
) -> dict:
    """Publish one record in a journaled step, stamping ``time_field``; returns what was published."""
    return await ctx.run_typed(
        step, _publish_stamped, PUBLISH_OPTIONS,
        topic=topic, key=key, value=value, time_field=time_field, headers=headers,
    )


async def publish_result(ctx: restate.Context, result: AgentResult) -> dict:
    value = result.to_record_value()
    published = await publish_step(
        ctx, "Publish result", result_topic(result.pattern), result.session_id or result.request_id, value,
        "completed_at", headers={"request-id": result.request_id, "pattern": result.pattern},
    )
    log.info("result published", status=published["status"])
    return published


async def publish_dead_letter(
    ctx: restate.Context, key: str | None, source: Source | None, error: str, payload: bytes
) -> dict:
    letter = DeadLetter.for_payload(source, error, payload, failed_at="").model_dump()
    log.warning("dead letter", error=error, source=source.model_dump() if source else None)
    return await publish_step(ctx, "Dead-letter record", dead_letters_topic(), key, letter, "failed_at")


def tool_result_message(call_id: str, result: dict) -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)}
