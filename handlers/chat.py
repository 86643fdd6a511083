"""Chat sessions: a Virtual Object keyed by session id keeps the conversation in Restate state.

    Message → append as user → LLM with the history → append reply as assistant → Reply

Messages of one session run one at a time, in topic order (the key is the
session id). History is bounded by ``chat_history_max`` messages; ``history``
is a shared handler that reads it, ``reset`` clears one session only.
"""

from __future__ import annotations

import restate

from agentpipe.settings import get_settings
from handlers import prompts
from handlers.requests import ChatRequest
from handlers.runtime import Outcome, PatternRun, run_pattern

chat = restate.VirtualObject("Chat")

HISTORY = "history"


async def reply_in_session(run: PatternRun, request: ChatRequest) -> Outcome:
    ctx: restate.ObjectContext = run.ctx  # type: ignore[assignment]
    history: list[dict] = await ctx.get(HISTORY, type_hint=list) or []
    history.append({"role": "user", "content": request.message})
    reply = await run.llm(
        "Chat reply", [{"role": "system", "content": prompts.CHAT_ASSISTANT}, *history[-get_settings().chat_history_max:]]
    )
    answer = reply["content"] or ""
    # The reply is the assistant's, not the user's (a defect of the public example).
    history.append({"role": "assistant", "content": answer})
    ctx.set(HISTORY, history[-get_settings().chat_history_max:])
    return Outcome(output=answer, session_id=ctx.key())


@chat.handler()
async def message(ctx: restate.ObjectContext, request: ChatRequest) -> dict:
    return await run_pattern(ctx, "chat", request, reply_in_session)


@chat.handler(kind="shared")
async def history(ctx: restate.ObjectSharedContext) -> list[dict]:
    return await ctx.get(HISTORY, type_hint=list) or []


@chat.handler()
async def reset(ctx: restate.ObjectContext) -> dict:
    ctx.clear(HISTORY)
    return {"session_id": ctx.key(), "reset": True}
