"""What every pattern handler shares: request context, journaled LLM/tool steps, result publishing.

A pattern module writes only its algorithm as ``async def work(run, request) -> Outcome``
and declares it (handlers/pattern.py); ``run_pattern`` binds the logging context,
turns terminal failures into an ``error`` result, and publishes exactly one
result per request in a journaled step.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar, cast

import restate
from pydantic import BaseModel
from restate import RunOptions, TerminalError
from restate.server_context import DisconnectedException

from agentpipe.flow import effective_priority
from agentpipe.kafka_publisher import PermanentPublishError, get_publisher
from agentpipe.logs import bind_request, get_logger, scrub_secrets
from agentpipe.messages import AgentRequest, AgentResult, DeadLetter, Source, Status, Usage, now_rfc3339
from agentpipe.patterns import R  # a pattern's request model
from agentpipe.records import printable
from agentpipe.settings import get_settings
from agentpipe.topics import dead_letters_topic, result_topic
from handlers.budgeted_calls import BudgetedCaller, CallFlow, LlmCall, settle
from handlers.llm import LlmReply, Message, ToolSpec

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
PAYLOAD_TOO_LARGE = 413  # our status code for a record the broker can never take


@dataclass
class Outcome:
    output: str | list[str]
    status: Status = "ok"
    error: str | None = None
    route: str | None = None
    session_id: str | None = None


class Bounds(BaseModel):
    """The settings that shape a journal, read once per invocation in a journaled step.

    A replay after a restart with other settings sees the values the invocation
    started with, so it takes the same path through its journal.
    """

    tool_loop_max_rounds: int
    tool_calls_max_per_round: int
    evaluator_max_rounds: int
    orchestrator_max_tasks: int
    chat_history_max: int
    chat_history_max_bytes: int
    review_timeout_s: float
    llm_model: str  # the default model
    allowed_models: list[str]


def current_bounds() -> Bounds:
    settings = get_settings()
    return Bounds.model_validate(
        {**settings.model_dump(include=set(Bounds.model_fields)), "llm_model": settings.llm_model}
    )


Q = TypeVar("Q", bound=BaseModel)
T = TypeVar("T")  # what a run works on: a pattern request, or a remote specialist's question
# A tool's result: a JSON object, journaled as the tool's step.
ToolResult = dict[str, Any]


@dataclass
class PatternRun(Generic[Q]):
    """One invocation of a pattern: its context, its request and the ids every step and log line carries."""

    ctx: restate.Context
    pattern: str
    request_id: str
    request: Q
    model: str | None = None  # None: the settings' model, read inside each LLM step
    temperature: float | None = None
    usage: Usage = field(default_factory=Usage)  # the LLM calls this run has taken from its journal
    flow: CallFlow = field(default_factory=lambda: CallFlow(priority="interactive"))
    _bounds: Bounds | None = None

    async def bounds(self) -> Bounds:
        if self._bounds is None:
            self._bounds = await self.ctx.run_typed("Read bounds", current_bounds)
        return self._bounds

    async def llm(
        self,
        step: str,
        messages: list[Message],
        *,
        tools: list[ToolSpec] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> LlmReply:
        """A journaled Chat Completions call (after a permit from the model's budget, when it is limited)."""
        [reply] = await self.llm_all([LlmCall(step, messages, tools, response_format)])
        return reply

    async def llm_all(self, calls: list[LlmCall]) -> list[LlmReply]:
        """Several LLM calls at once, each its own journaled step; their replies in order."""
        for call in calls:
            log.info("llm step", step=call.step)
        caller = BudgetedCaller(self.ctx, self.request_id, self.pattern, self.model, self.temperature, self.flow)
        replies = await caller.run(calls)
        for reply in replies:
            self.usage = self.usage.plus(reply.usage())
        return replies

    async def gather(self, *futures: restate.RestateDurableFuture[T]) -> list[T]:
        """Wait for concurrent steps together (one suspension, not one per step); their values in order."""
        await restate.gather(*futures)
        return [await future for future in futures]

    async def ask(self, step: str, system: str, user: str) -> str:
        """The common case: one system prompt, one user message, text back."""
        reply = await self.llm(step, [{"role": "system", "content": system}, {"role": "user", "content": user}])
        return reply.text

    def tool_future(
        self, step: str, fn: Callable[..., Awaitable[ToolResult] | ToolResult], **kwargs: Any
    ) -> restate.RestateDurableFuture[ToolResult]:
        """A tool call as its own journaled step; a failed tool is retried alone."""
        options: RunOptions[ToolResult] = RunOptions(
            max_attempts=TOOL_OPTIONS_MAX_ATTEMPTS,
            initial_retry_interval=timedelta(milliseconds=100),
            type_hint=dict,
        )

        async def call() -> ToolResult:
            result = fn(**kwargs)  # tools are plain or async functions
            return await result if inspect.isawaitable(result) else result

        self.flow.started = True  # a tool may act on the world: the request can no longer start over
        return self.ctx.run_typed(step, call, options)


def request_id_for(ctx: restate.Context, request: AgentRequest) -> str:
    """Body first, then the ``request-id`` header (HTTP ingress), then the invocation id."""
    if request.request_id:
        return request.request_id
    header = ctx.request().headers.get("request-id")
    if header:
        return header
    return ctx.request().id


def oversized(request: AgentRequest) -> str | None:
    """Over HTTP ingress nothing measured the body yet; Kafka records were measured by the intake."""
    if request.source is not None:
        return None
    size = len(request.model_dump_json().encode())
    limit = get_settings().max_record_bytes
    return f"request is {size} bytes, over the limit of {limit} bytes" if size > limit else None


def model_refusal(model: str, default: str, allowed: list[str]) -> str | None:
    """Why a request may not choose ``model`` (the default or one of ``allowed``); None when it may."""
    if model == default or model in allowed:
        return None
    return (
        f"model {printable(model)!r} is not allowed (allowed: {', '.join([default, *allowed])}; "
        "see AGENTPIPE_ALLOWED_MODELS)"
    )


async def check_model(run: PatternRun[Any], model: str) -> None:
    """A chosen model must be allowed; checked against the settings the invocation started with."""
    bounds = await run.bounds()
    problem = model_refusal(model, bounds.llm_model, bounds.allowed_models)
    if problem:
        raise TerminalError(problem, 400)


# A pattern's algorithm: what it does with one request.
Work = Callable[[PatternRun[R], R], Awaitable[Outcome]]


def request_flow(request: AgentRequest, llm_calls: int = 1) -> CallFlow:
    """A request's flow control as it starts: its priority, its own deadline and the LLM calls its
    pattern usually makes (a permit covers that many); nothing held yet."""
    return CallFlow(effective_priority(request.priority, request.replay_of), request.deadline_s, llm_calls)


async def run_pattern(
    ctx: restate.Context, pattern: str, request: R, work: Work[R], keyed: bool = False, flow: CallFlow | None = None
) -> AgentResult:
    """Run one request and publish its one result; ``flow``: how its LLM calls wait (default: request_flow)."""
    request_id = request_id_for(ctx, request)
    bind_request(ctx.request().id, request_id, pattern)
    run = PatternRun(
        ctx,
        pattern,
        request_id,
        request,
        model=request.model,
        temperature=request.temperature,
        flow=flow or request_flow(request),
    )
    cancelled: TerminalError | None = None
    try:
        problem = oversized(request)
        if problem:
            raise TerminalError(problem, status_code=PAYLOAD_TOO_LARGE)
        if request.model is not None:
            await check_model(run, request.model)
        outcome = await work(run, request)
    except TerminalError as exc:
        log.warning("pattern failed", error=exc.message, status_code=exc.status_code)
        outcome = Outcome(output="", status="error", error=exc.message)
        if exc.status_code == CANCELLED:
            cancelled = exc
    except DisconnectedException:
        raise  # restate-server went away mid-attempt: Restate retries the attempt from the journal
    except Exception as exc:
        # Restate's other control flow (suspension, retryable step failures) is a BaseException.
        log.exception("pattern raised an unexpected error")
        outcome = Outcome(output="", status="error", error=f"internal error: {type(exc).__name__}: {exc}")
    settle(ctx, run.flow)
    result = AgentResult(
        request_id=request_id,
        pattern=pattern,
        status=outcome.status,
        output=outcome.output,
        error=scrub_secrets(outcome.error),
        # A keyed pattern's result stays with its session, failed or not (same key, same partition).
        session_id=outcome.session_id or (cast(restate.ObjectContext, ctx).key() if keyed else None),
        route=outcome.route,
        usage=run.usage,
        source=request.source,
        replay_of=request.replay_of,
    )
    published, cancelled_while_publishing = await publish_result(ctx, result)
    cancelled = cancelled or cancelled_while_publishing
    if cancelled is not None:
        # Readers still get their one result; Restate still records the invocation as cancelled.
        raise cancelled
    return published


# A record value as published: a JSON object.
RecordValue = dict[str, Any]


async def _publish_stamped(
    topic: str, key: str | None, value: RecordValue, time_field: str, headers: dict[str, str] | None = None
) -> RecordValue:
    # The time is read inside the step, so a replay sees the journaled value.
    value = {**value, time_field: now_rfc3339()}
    try:
        await get_publisher().publish(topic, key=key, value=value, headers=headers)
    except PermanentPublishError as exc:
        # A retry cannot fix it (too large, not encodable); the caller publishes something smaller.
        raise TerminalError(str(exc), status_code=PAYLOAD_TOO_LARGE) from None
    return value


async def publish_step(
    ctx: restate.Context,
    step: str,
    topic: str,
    key: str | None,
    value: RecordValue,
    time_field: str,
    headers: dict[str, str] | None = None,
) -> RecordValue:
    """Publish one record in a journaled step, stamping ``time_field``; returns what was published.

    Transient failures (broker down) are retried until they pass; a record the broker can
    never take raises TerminalError with status 413.
    """
    return await ctx.run_typed(
        step,
        _publish_stamped,
        PUBLISH_OPTIONS,
        topic=topic,
        key=key,
        value=value,
        time_field=time_field,
        headers=headers,
    )


async def publish_result(ctx: restate.Context, result: AgentResult) -> tuple[AgentResult, TerminalError | None]:
    """Publish the one result; returns it and the cancellation that arrived meanwhile, if any.

    A cancellation that lands during the publish interrupts the await, not the step: the
    publish is awaited again, so the request still ends in exactly one result. A result
    too large for the broker is replaced by an error result saying so.
    """
    cancelled: TerminalError | None = None
    step = "Publish result"
    for _attempt in range(3):  # at most: cancelled once, too large once
        try:
            published = await publish_step(
                ctx,
                step,
                result_topic(result.pattern),
                result.session_id or result.request_id,
                result.model_dump(),
                "completed_at",
                headers={"request-id": result.request_id, "pattern": result.pattern},
            )
            log.info("result published", status=published["status"])
            return AgentResult.model_validate(published), cancelled
        except TerminalError as exc:
            if exc.status_code == CANCELLED and cancelled is None:
                cancelled = exc
                continue
            if exc.status_code != PAYLOAD_TOO_LARGE or (result.status == "error" and not result.output):
                raise
            size = len(result.model_dump_json().encode())
            result = result.model_copy(
                update={
                    "status": "error",
                    "output": "",
                    "error": f"the result ({size} bytes) could not be published: {exc.message}",
                }
            )
            step = "Publish result (error)"
    raise TerminalError("the result could not be published")


async def publish_dead_letter(
    ctx: restate.Context, key: str | None, source: Source | None, error: str, payload: bytes
) -> DeadLetter:
    """Publish a dead letter; a payload too large to carry is cut, and the letter says so."""
    log.warning("dead letter", error=error, source=source.model_dump() if source else None)
    keep = get_settings().dead_letter_payload_bytes
    for step in ("Dead-letter record", "Dead-letter record (payload cut)"):
        letter = DeadLetter.for_payload(source, printable(error, 2000), payload, failed_at="", keep_bytes=keep)
        try:
            published = await publish_step(ctx, step, dead_letters_topic(), key, letter.model_dump(), "failed_at")
            return DeadLetter.model_validate(published)
        except TerminalError as exc:
            if exc.status_code != PAYLOAD_TOO_LARGE:
                raise
            keep = 0
    raise TerminalError("the dead letter could not be published")


def tool_result_message(call_id: str, result: ToolResult) -> Message:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)}
