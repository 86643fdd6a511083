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

from typing import cast

import restate
from pydantic import RootModel

from agentpipe.messages import ChatTurn
from agentpipe.patterns import PATTERNS
from agentpipe.requests import ChatRequest
from handlers import prompts
from handlers.pattern import Pattern
from handlers.runtime import Outcome, PatternRun

HISTORY = "history"


class History(RootModel[list[ChatTurn]]):
    """The session's state: its turns, oldest first (stored as a plain JSON list)."""


def bounded(history: list[ChatTurn], max_messages: int, max_bytes: int) -> list[ChatTurn]:
    """The newest messages that fit both bounds (the newest one always stays)."""
    kept: list[ChatTurn] = []
    size = 0
    for turn in reversed(history[-max_messages:]):
        size += len(turn.model_dump_json().encode())
        if kept and size > max_bytes:
            break
        kept.append(turn)
    return kept[::-1]


async def reply_in_session(run: PatternRun[ChatRequest], request: ChatRequest) -> Outcome:
    ctx = cast(restate.ObjectContext, run.ctx)  # keyed: the handler runs on the session's object
    if request.reset:
        ctx.clear(HISTORY)
        return Outcome(output="session reset", session_id=ctx.key())
    bounds = await run.bounds()
    stored = await ctx.get(HISTORY, type_hint=History)
    history = [*(stored.root if stored else []), ChatTurn(role="user", content=request.message)]
    history = bounded(history, bounds.chat_history_max, bounds.chat_history_max_bytes)
    messages = [{"role": "system", "content": prompts.CHAT_ASSISTANT}, *(turn.model_dump() for turn in history)]
    answer = (await run.llm("Chat reply", messages)).text
    # The reply is the assistant's, not the user's (a defect of the public example).
    history.append(ChatTurn(role="assistant", content=answer))
    ctx.set(HISTORY, History(bounded(history, bounds.chat_history_max, bounds.chat_history_max_bytes)))
    return Outcome(output=answer, session_id=ctx.key())


async def history(ctx: restate.ObjectSharedContext) -> History:
    """The session's turns; a shared handler, so reading never waits behind a reply."""
    return await ctx.get(HISTORY, type_hint=History) or History([])


PATTERN = Pattern(PATTERNS["chat"], work=reply_in_session, readers=(history,))
