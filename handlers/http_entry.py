"""What a request over Restate's HTTP ingress meets before its pattern runs: the same rules as a record.

    POST /<Service>/<handler>  → refuse what only the intake may set (source) or only Kafka may ask
                                 (a chat reset) → name the request id (body, request-id header, invocation id)
                               → is it held? RequestIds[<pattern>:<id>]/peek (shared: a record's request
                                 may run in that object for hours) → if not, claim it there
                                 (chat: in the session's state, where this handler runs)
                                 first: run it here · repeat or conflict: 409, nothing published

So the one result under a request id comes from the invocation that claimed it, whichever way the
request came in: a caller cannot publish a result under an id a Kafka record (or another caller) holds.
"""

from __future__ import annotations

from typing import Any, cast

import restate
from restate import TerminalError

from agentpipe.claim_keys import REQUEST_IDS, claim_key
from agentpipe.messages import AgentRequest
from agentpipe.topics import result_topic
from handlers.pattern import Pattern
from handlers.request_ids import (
    CLAIM_HANDLER,
    PEEK_HANDLER,
    Claim,
    Claimed,
    Peeked,
    fingerprint,
    take_session_claim,
)
from handlers.runtime import request_id_for

TAKEN = 409


def http_refusal(request: AgentRequest) -> str | None:
    """Why a request over HTTP is refused before anything is claimed; None when it may run."""
    if request.source is not None:
        return "source is set by agentpipe from a record's coordinates; a request over HTTP may not carry one"
    if getattr(request, "reset", False):
        return "a chat session is reset only by a record on its topic (in order with its messages), not over HTTP"
    return None


async def claim_over_http(ctx: restate.Context, pattern: Pattern[Any], request: AgentRequest, forget: str) -> None:
    """Name and claim the request's id for this invocation; raises TerminalError when it may not run."""
    problem = http_refusal(request)
    if problem:
        raise TerminalError(problem, status_code=400)
    request.request_id = request_id_for(ctx, request)
    entry = Claim(fingerprint=fingerprint(request), source=None, invocation_id=ctx.request().id)
    if pattern.keyed:
        # The session's object is the claim's home (as for its records); this handler runs on it.
        session = cast(restate.ObjectContext, ctx)
        claimed = await take_session_claim(session, pattern.service, forget, request.request_id, entry)
    else:
        key, arg = claim_key(pattern.name, request.request_id), entry.model_dump_json().encode()
        peeked = Peeked.model_validate_json(await ctx.generic_call(REQUEST_IDS, PEEK_HANDLER, arg, key=key))
        if peeked.taken is not None:
            claimed = peeked.taken
        else:
            claimed = Claimed.model_validate_json(await ctx.generic_call(REQUEST_IDS, CLAIM_HANDLER, arg, key=key))
    if claimed.outcome != "first":
        raise TerminalError(taken_message(pattern.name, request.request_id, claimed), status_code=TAKEN)


def taken_message(pattern: str, request_id: str, claimed: Claimed) -> str:
    where = f" by the record at {claimed.first_source.coordinates()}" if claimed.first_source else ""
    if claimed.outcome == "repeat":
        return (
            f"request id {request_id!r} was taken already{where}; its one result is on {result_topic(pattern)} "
            "(an HTTP caller that retries sends an idempotency-key header to get the same answer)"
        )
    return f"request id {request_id!r} is already used by a different {pattern} request{where}; an id names one request"
