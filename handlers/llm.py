"""LLM calls as journaled steps, through the official ``openai`` package.

The openai client does no retrying of its own (max_retries=0): Restate retries
the step with backoff, and every attempt is visible in the journal. Errors are
classified once, here: 429, 5xx, timeouts and connection errors are retried up
to ``llm_max_attempts``; other 4xx are terminal at once.

``openai`` is imported where it is used: the CLI imports the pattern
declarations (and so this module), and importing openai costs it 0.7 s per run.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from restate import RunOptions, TerminalError

from agentpipe.logs import get_logger, scrub_secrets
from agentpipe.messages import Usage
from agentpipe.settings import get_settings

if TYPE_CHECKING:
    import openai

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


def llm_run_options() -> RunOptions:
    settings = get_settings()
    return RunOptions(
        max_attempts=settings.llm_max_attempts,
        initial_retry_interval=timedelta(milliseconds=settings.llm_initial_backoff_ms),
        max_retry_interval=timedelta(milliseconds=settings.llm_max_backoff_ms),
        retry_interval_factor=2.0,
        type_hint=LlmReply,
    )


def _is_retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


async def chat_completion(
    step: str,
    messages: list[Message],
    *,
    request_id: str,
    pattern: str,
    tools: list[ToolSpec] | None = None,
    response_format: dict[str, Any] | None = None,
    model: str | None = None,
    temperature: float | None = None,
) -> LlmReply:
    """One Chat Completions call, with the settings' model unless the request chose one."""
    import openai
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
        response = await llm_client().post(
            "/chat/completions",
            cast_to=ChatCompletion,
            body=body,
            options={
                "headers": {
                    "X-Agentpipe-Request-Id": request_id,
                    "X-Agentpipe-Step": step,
                    "X-Agentpipe-Pattern": pattern,
                }
            },
        )
    except openai.APIStatusError as exc:
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
    if not response.choices:
        raise RetryableLlmError("the model returned no choices")
    message = response.choices[0].message
    tokens = response.usage
    return LlmReply(
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
