"""Request ids mean one request: the first body seen under an id is the request; another body is a conflict.

    <pattern>/ingest ──one-way──▶ RequestIds[pattern:request id]/<pattern>: claim → first: run it here
                                                                                 → repeat: done
                                                                                 → conflict: dead letter
    Chat/<session>/ingest: claim in the session's own state → first: run the message in order

A repeat (same id, same body) does not run again; a conflict (same id,
different body) is dead-lettered naming the record that holds the id, never
silently dropped. The claim names the invocation that runs the request, which
is how `agentpipe status` and `cancel` find it by request id. Claims are kept a
day (Restate's idempotency retention, what HTTP callers get with an
idempotency key), then forgotten, so an id can be used again after that.

No claim is a call that waits for another invocation: an invocation that waits
holds one of the invoker's slots, and under a backlog the slots filled with
records waiting for claims that could not start (docs/benchmarks).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Literal

import restate
from pydantic import BaseModel

from agentpipe.claim_keys import FIRST, REQUEST_IDS, session_claim_key
from agentpipe.messages import AgentRequest, Source
from handlers.policies import invocation_retry_policy

# Restate's default idempotency retention: how long a request id is de-duplicated.
CLAIM_RETENTION = timedelta(days=1)
# The handler that clears a RequestIds object's claim after the retention.
FORGET_HANDLER = "forget"
# The handlers that claim an id for a request that came over HTTP (handlers/http_entry.py): a shared
# look first (a record's request runs in this object's exclusive handler, for hours when it waits for
# a person, and an exclusive call would wait behind it), then the exclusive claim when the id is free.
PEEK_HANDLER = "peek"
CLAIM_HANDLER = "claim"


class Claim(BaseModel):
    fingerprint: str
    source: Source | None = None
    invocation_id: str | None = None  # the invocation that runs the request (absent in claims of older versions)


class Claimed(BaseModel):
    outcome: Literal["first", "repeat", "conflict"]
    first_source: Source | None = None


def fingerprint(request: AgentRequest) -> str:
    """The request as its sender wrote it: everything but the id and where it was read from."""
    body = request.model_dump(mode="json", exclude={"request_id", "source"}, exclude_none=True)
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def take_claim(ctx: restate.ObjectContext, state_key: str, claim: Claim) -> Claimed:
    """Claim the id kept under ``state_key`` of this object for ``claim``'s request, or say whose it is.

    The caller schedules the claim's forgetting when the outcome is "first".
    """
    first = await ctx.get(state_key, type_hint=Claim)
    if first is None:
        ctx.set(state_key, claim)
        return Claimed(outcome="first")
    return held(first, claim)


def held(first: Claim, claim: Claim) -> Claimed:
    """What ``claim`` meets where ``first`` holds the id: the same body (a repeat) or another (a conflict)."""
    outcome = "repeat" if first.fingerprint == claim.fingerprint else "conflict"
    return Claimed(outcome=outcome, first_source=first.source)


async def take_session_claim(
    ctx: restate.ObjectContext, service: str, forget_handler: str, request_id: str, claim: Claim
) -> Claimed:
    """A keyed pattern's claim of ``request_id`` in its session's own state, forgotten after the retention."""
    claimed = await take_claim(ctx, session_claim_key(request_id), claim)
    if claimed.outcome == "first":
        ctx.generic_send(
            service, forget_handler, json.dumps(request_id).encode(), key=ctx.key(), send_delay=CLAIM_RETENTION
        )
    return claimed


async def forget(ctx: restate.ObjectContext) -> None:
    ctx.clear_all()


class Peeked(BaseModel):
    taken: Claimed | None = None  # None: nobody holds the id yet


async def peek(ctx: restate.ObjectSharedContext, entry: Claim) -> Peeked:
    """Whether this object's request id is held, and whether by ``entry``'s body; changes nothing."""
    first = await ctx.get(FIRST, type_hint=Claim)
    return Peeked(taken=None if first is None else held(first, entry))


async def claim(ctx: restate.ObjectContext, entry: Claim) -> Claimed:
    """Claim this object's request id (the first time: forgotten after the retention)."""
    claimed = await take_claim(ctx, FIRST, entry)
    if claimed.outcome == "first":
        ctx.generic_send(REQUEST_IDS, FORGET_HANDLER, b"", key=ctx.key(), send_delay=CLAIM_RETENTION)
    return claimed


def request_ids_object() -> restate.VirtualObject:
    """The claims' object with its ``forget``; handlers/intake.py adds one handler per pattern that runs requests."""
    claims = restate.VirtualObject(REQUEST_IDS, ingress_private=True, invocation_retry_policy=invocation_retry_policy())
    claims.handler(FORGET_HANDLER)(forget)
    claims.handler(PEEK_HANDLER, kind="shared")(peek)
    claims.handler(CLAIM_HANDLER)(claim)
    return claims
