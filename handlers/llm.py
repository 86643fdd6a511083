"""LLM calls as journaled steps, through the official ``openai`` package.

The openai client does no retrying of its own (max_retries=0): Restate retries
the step with backoff, and every attempt is visible in the journal. Errors are
classified once, here: 429, 5xx, timeouts and connection errors are retried up
to ``llm_max_attempts``; other 4xx are terminal at once.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import openai
from restate import RunOptions, TerminalError

from agentpipe.logs import get_logger, scrub_secrets
from agentpipe.settings import get_settings

log = get_logger(__name__)


class RetryableLlmError(Exception):
    """Raised inside the step so that Restate retries it."""


@lru_cache(maxsize=1)
def llm_client() -> openai.AsyncOpenAI:
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


def llm_run_options() -> RunOptions:
    settings = get_settings()
    return RunOptions(
        max_attempts=settings.llm_max_attempts,
        initial_retry_interval=timedelta(milliseconds=settings.llm_initial_backoff_ms),
        max_retry_interval=timedelta(milliseconds=settings.llm_max_backoff_ms),
        retry_interval_factor=2.0,
        type_hint=dict,
    )


def _is_retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


async def chat_completion(
    step: str,
    messages: list[dict],
    *,
    request_id: str,
    pattern: str,
    tools: list[dict] | None = None,
    response_format: dict | None = None,
) -> dict:
    """One Chat Completions call; returns {"content", "tool_calls": [{"id", "name", "arguments"}]}."""
    settings = get_settings()
    kwargs: dict = {}
    if tools:
        kwargs["tools"] = tools
    if response_format:
        kwargs["response_format"] = response_format
    try:
        response = await llm_client().chat.completions.create(
            model=settings.llm_model,
            messages=messages,
            extra_headers={
                "X-Agentpipe-Request-Id": request_id,
                "X-Agentpipe-Step": step,
                "X-Agentpipe-Pattern": pattern,
            },
            **kwargs,
        )
    except openai.APIStatusError as exc:
        if _is_retryable_status(exc.status_code):
            log.warning("llm call failed, will retry", step=step, status=exc.status_code)
            raise RetryableLlmError(f"HTTP {exc.status_code} from the model") from None
        # Providers echo part of a rejected key in the message; it would reach the journal and the result.
        raise TerminalError(f"LLM call '{step}' rejected: HTTP {exc.status_code}: {scrub_secrets(exc.message)}") from None
    except (openai.APITimeoutError, openai.APIConnectionError) as exc:
        log.warning("llm call failed, will retry", step=step, error=type(exc).__name__)
        raise RetryableLlmError(f"{type(exc).__name__} calling the model") from None
    if not response.choices:
        raise RetryableLlmError("the model returned no choices")
    message = response.choices[0].message
    return {
        "content": message.content,
        "tool_calls": [
            {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
            for call in (message.tool_calls or [])
        ],
    }
