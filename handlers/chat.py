"""Chat sessions: a Virtual Object keyed by session id keeps the conversation in Restate state.

    Message → append as user → LLM with the history → append reply as assistant → Reply

Messages of one session run one at a time, in topic order (the key is the
session id). History is bounded by ``chat_history_max`` messages and
``chat_history_max_bytes`` of text, oldest dropped first. ``history`` is a
shared handler that reads it. A record with ``"reset": true`` clears the
session, in topic order with its other messages; nothing else over HTTP can
change a session.
"""

from __future__ import annotations

import json

import restate

from handlers import prompts
from handlers.policies import invocation_retry_policy
from handlers.requests import ChatRequest
from handlers.runtime import Outcome, PatternRun, run_pattern

chat = restate.VirtualObject("Chat", invocation_retry_policy=invocation_retry_policy())

HISTORY = "history"


def bounded(history: list[dict], max_messages: int, max_bytes: int) -> list[dict]:
    """The newest messages that fit both bounds (the newest one always stays)."""
    kept: list[dict] = []
    size = 0
    for message in reversed(history[-max_messages:]):
        size += len(json.dumps(message, ensure_ascii=False).encode())
        if kept and size > max_bytes:
            break
        kept.append(message)
    return kept[::-1]


async def reply_in_session(run: PatternRun, request: ChatRequest) -> Outcome:
    ctx: restate.ObjectContext = run.ctx  # type: ignore[assignment]
    if request.reset:
        ctx.clear(HISTORY)
        return Outcome(output="session reset", session_id=ctx.key())
    bounds = await run.bounds()
    history: list[dict] = await ctx.get(HISTORY, type_hint=list) or []
    history.append({"role": "user", "content": request.message})
    history = bounded(history, bounds.chat_history_max, bounds.chat_history_max_bytes)
    reply = await run.llm("Chat reply", [{"role": "system", "content": prompts.CHAT_ASSISTANT}, *history])
    answer = reply["content"] or ""
    # The reply is the assistant's, not the user's (a defect of the public example).
    history.append({"role": "assistant", "content": answer})
    ctx.set(HISTORY, bounded(history, bounds.chat_history_max, bounds.chat_history_max_bytes))
    return Outcome(output=answer, session_id=ctx.key())


@chat.handler()
async def message(ctx: restate.ObjectContext, request: ChatRequest) -> dict:
    return await run_pattern(ctx, "chat", request, reply_in_session)


@chat.handler(kind="shared")
async def history(ctx: restate.ObjectSharedContext) -> list[dict]:
    return await ctx.get(HISTORY, type_hint=list) or []
