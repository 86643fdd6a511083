"""LLM calls as journaled steps, through the official ``openai`` package.

The openai client does no retrying of its own (max_retries=0): Restate retries
the step with backoff, and every attempt is visible in the journal. Errors are
classified once, here: 5xx, 408, 409, timeouts and connection errors are retried
up to ``llm_max_attempts``; a 429 ends the step with a ``rate-limited`` attempt
that waits for the model's budget (handlers/budgeted_calls.py) without spending
one of those; other 4xx are terminal at once.

``openai`` is imported where it is used: the CLI imports the pattern
declarations (and so this module), and importing openai costs it 0.7 s per run.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel
from restate import RunOptions, TerminalError

from agentpipe.flow import BudgetLimits, budget_key
from agentpipe.logs import get_logger, scrub_secrets
from agentpipe.messages import Usage
from agentpipe.settings import get_settings
from handlers.provider_signals import ProviderSignals, read_signals

if TYPE_CHECKING:
    import openai
    from openai._legacy_response import LegacyAPIResponse

log = get_logger(__name__)

# A chat message as the Chat Completions API takes it: {"role", "content", ...}.
Message = dict[str, Any]
# A tool's JSON schema as offered to the model (handlers/tools.py).
ToolSpec = dict[str, Any]


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it; parsed by handlers/tools.parse_arguments


class LlmReply(BaseModel):
    """What one journaled LLM step returns (and what its journal entry holds)."""

    content: str | None = None
    tool_calls: list[ToolCall] = []
    # As the model reported them (journaled with the reply, so a replay counts what was executed).
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def usage(self) -> Usage:
        return Usage(
            llm_calls=1, prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens, model=self.model
        )

    @property
    def text(self) -> str:
        return self.content or ""


class RetryableLlmError(Exception):
    """Raised inside the step so that Restate retries it."""


class ProviderRateLimited(Exception):
    """The provider answered 429: the call waits for its budget, and no attempt of the step is spent."""

    def __init__(self, signals: ProviderSignals) -> None:
        super().__init__("HTTP 429 from the model")
        self.signals = signals


class FlowSettings(BaseModel):
    """What the settings say about a held-back call's flow control, journaled with the attempt."""

    budget_key: str  # ProviderBudget[<provider>/<model>]
    limits: BudgetLimits  # as configured for the model (all None: only what the provider says)
    deadline_s: float  # how long a request may be held back by rate limits (settings; a request may say less)
    lease_s: float  # how long a permit of a call in flight lasts if its caller never reports back


class LlmAttempt(BaseModel):
    """What one journaled LLM step returns: the model's reply, or why it has none yet."""

    reply: LlmReply | None = None
    # needs-permit: the model is limited and the call holds no permit; stale-permit: its permit is a credit
    # left over from before a stall (see CREDIT_STALE_S); rate-limited: the provider said 429.
    held_back: Literal["needs-permit", "stale-permit", "rate-limited"] | None = None
    signals: ProviderSignals | None = None  # the provider's rate-limit headers, for its budget
    at: float = 0.0  # when the step ended, epoch seconds (journaled: the budget's clock for the caller)
    flow: FlowSettings | None = None  # on a held-back attempt


# Models this process has seen limited (a 429, or little left of a stated limit): until when their
# calls ask the model's budget for a permit although none is configured (renewed by each such
# answer). Read only inside steps.
LEARNED_FOR_S = 60.0
_limited_until: dict[str, float] = {}


def configured_limits(model: str) -> BudgetLimits:
    budgets = get_settings().llm_budgets
    return budgets.get(model) or budgets.get("*") or BudgetLimits()


def needs_permit(key: str, model: str) -> bool:
    return configured_limits(model).limited or _limited_until.get(key, 0.0) > time.monotonic()


def mark_limited(key: str) -> None:
    _limited_until[key] = time.monotonic() + LEARNED_FOR_S


def flow_settings(key: str, model: str) -> FlowSettings:
    settings = get_settings()
    attempts_s = settings.llm_timeout_s * settings.llm_max_attempts + settings.llm_max_backoff_ms / 1000 * 4
    return FlowSettings(
        budget_key=key,
        limits=configured_limits(model),
        deadline_s=settings.llm_rate_limit_deadline_s,
        lease_s=attempts_s + 30.0,
    )


@lru_cache(maxsize=1)
def llm_client() -> openai.AsyncOpenAI:
    import openai

    settings = get_settings()
    return openai.AsyncOpenAI(
        api_key=settings.llm_api_key,
        base_url=settings.llm_base_url,
        timeout=settings.llm_timeout_s,
        max_retries=0,
        # The profile showed httpx's connection pool dominating CPU with hundreds of calls in flight;
        # the aiohttp transport costs about half as much per call and stays flat under load.
        http_client=openai.DefaultAioHttpClient(timeout=settings.llm_timeout_s),
    )


async def close_llm_client() -> None:
    """Close the client's connections, if one was made; its aiohttp session logs an error if left open."""
    if llm_client.cache_info().currsize:
        await llm_client().close()
        llm_client.cache_clear()


def llm_run_options() -> RunOptions[LlmAttempt]:
    settings = get_settings()
    return RunOptions(
        max_attempts=settings.llm_max_attempts,
        initial_retry_interval=timedelta(milliseconds=settings.llm_initial_backoff_ms),
        max_retry_interval=timedelta(milliseconds=settings.llm_max_backoff_ms),
        retry_interval_factor=2.0,
        type_hint=LlmAttempt,
    )


def _is_retryable_status(status: int) -> bool:
    return status in (408, 409) or status >= 500


def _lower(headers: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


async def complete(
    step: str,
    messages: list[Message],
    *,
    request_id: str,
    pattern: str,
    tools: list[ToolSpec] | None = None,
    response_format: dict[str, Any] | None = None,
    model: str | None = None,
    temperature: float | None = None,
) -> tuple[LlmReply, ProviderSignals]:
    """One Chat Completions call, with the settings' model unless the request chose one; the reply and
    what the provider's headers said of its limits. A 429 raises ProviderRateLimited."""
    import openai
    from openai._constants import RAW_RESPONSE_HEADER
    from openai.types.chat import ChatCompletion

    body: dict[str, Any] = {"model": model or get_settings().llm_model, "messages": messages}
    if tools:
        body["tools"] = tools
    if response_format:
        body["response_format"] = response_format
    if temperature is not None:
        body["temperature"] = temperature
    try:
        # What chat.completions.create sends, minus its typed transform of the parameters, which walks
        # every message against the TypedDicts (an eighth of the agent service's CPU in the profile)
        # and returns plain JSON like ours unchanged (tests/unit/test_llm_body.py holds it to that).
        # Asked raw (RAW_RESPONSE_HEADER), for the rate-limit headers.
        posted = await llm_client().post(
            "/chat/completions",
            cast_to=ChatCompletion,
            body=body,
            options={
                "headers": {
                    RAW_RESPONSE_HEADER: "true",
                    "X-Agentpipe-Request-Id": request_id,
                    "X-Agentpipe-Step": step,
                    "X-Agentpipe-Pattern": pattern,
                }
            },
        )
    except openai.APIStatusError as exc:
        if exc.status_code == 429:
            log.warning("llm call rate limited", step=step)
            raise ProviderRateLimited(read_signals(_lower(exc.response.headers), time.time())) from None
        if _is_retryable_status(exc.status_code):
            log.warning("llm call failed, will retry", step=step, status=exc.status_code)
            raise RetryableLlmError(f"HTTP {exc.status_code} from the model") from None
        # Providers echo part of a rejected key in the message; it would reach the journal and the result.
        raise TerminalError(
            f"LLM call '{step}' rejected: HTTP {exc.status_code}: {scrub_secrets(exc.message)}"
        ) from None
    except (openai.APITimeoutError, openai.APIConnectionError) as exc:
        log.warning("llm call failed, will retry", step=step, error=type(exc).__name__)
        raise RetryableLlmError(f"{type(exc).__name__} calling the model") from None
    raw = cast("LegacyAPIResponse[ChatCompletion]", posted)
    signals = read_signals(_lower(raw.headers), time.time())
    response = raw.parse()
    if not response.choices:
        raise RetryableLlmError("the model returned no choices")
    message = response.choices[0].message
    tokens = response.usage
    reply = LlmReply(
        model=response.model or "",
        prompt_tokens=tokens.prompt_tokens if tokens else 0,
        completion_tokens=tokens.completion_tokens if tokens else 0,
        content=message.content,
        tool_calls=[
            ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
            for call in (message.tool_calls or [])
            if call.type == "function"
        ],
    )
    return reply, signals


async def chat_completion(step: str, messages: list[Message], **call: Any) -> LlmReply:
    """``complete`` for a caller without a budget (the benchmark's baseline): a 429 is retried like a 5xx."""
    try:
        reply, _ = await complete(step, messages, **call)
    except ProviderRateLimited as exc:
        raise RetryableLlmError(str(exc)) from None
    return reply


async def attempt_completion(
    step: str,
    messages: list[Message],
    *,
    permitted: bool,
    stale_after: float | None = None,
    model: str | None = None,
    **call: Any,
) -> LlmAttempt:
    """The body of a journaled LLM step. A call of a limited model without a permit is not made
    (``needs-permit``), nor one whose permit is a credit that went stale (``stale-permit``: the
    step runs after ``stale_after``, epoch seconds); a 429 is not an error (``rate-limited``):
    each way the caller waits for the model's budget and runs the step again. Whether the model is
    limited, and the time, are read here, in the step, so a replay takes the path the journal took
    whatever this process has learned since."""
    name = model or get_settings().llm_model
    key = budget_key(get_settings().llm_base_url, name)
    if not permitted and needs_permit(key, name):
        return LlmAttempt(held_back="needs-permit", at=time.time(), flow=flow_settings(key, name))
    if permitted and stale_after is not None and time.time() > stale_after:
        return LlmAttempt(held_back="stale-permit", at=time.time(), flow=flow_settings(key, name))
    try:
        reply, signals = await complete(step, messages, model=model, **call)
    except ProviderRateLimited as exc:
        mark_limited(key)
        return LlmAttempt(held_back="rate-limited", signals=exc.signals, at=time.time(), flow=flow_settings(key, name))
    if signals.near_limit():
        mark_limited(key)
    return LlmAttempt(reply=reply, signals=signals if permitted and signals.any else None, at=time.time())
