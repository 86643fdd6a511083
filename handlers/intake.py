"""Intake: what a pattern does with a raw Kafka record before it runs the request.

    record → <pattern service>/ingest: decode strictly, validate → (bad: dead letter)
           → one-way to RequestIds[<pattern>:<request id>]/<pattern>:
               claim the request id (reused for another body: dead letter; same body: done)
               → run the pattern in that invocation
    chat   → Chat[<session>]/ingest: the same checks, the claim in the session's state, the message run there

Each pattern service has a private ``ingest`` handler next to its public one
(handlers/pattern.py) and the subscription delivers there. A request costs two
invocations, and its work is journaled once, in the invocation that holds its
claim. Nothing on the way waits for another invocation: an invocation that
waits keeps one of Restate's invoker slots, and with a backlog the slots filled
with records waiting for claims that had no slot to run in. The handler takes raw bytes, so a record that is not
JSON, has the wrong shape, is too large or (chat) has no key becomes a dead
letter instead of a failed invocation, and its partition keeps flowing. No
exception of decoding, validating or re-encoding escapes: a retry could never
fix it, and for chat it would hold up every later message of the session.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Literal, cast

import restate
from pydantic import BaseModel, ConfigDict, ValidationError

from agentpipe.claim_keys import REQUEST_IDS, admitted_handler, claim_key, session_claim_key, taker_handler
from agentpipe.flow import budget_key, effective_priority
from agentpipe.gated import is_gated, unwrap
from agentpipe.logs import bind_request, get_logger
from agentpipe.messages import AgentRequest, Source, describe_validation_error
from agentpipe.records import RejectedRecord, decode_json_object, printable
from agentpipe.settings import get_settings
from handlers.budgeted_calls import REPLY_TOKENS_ESTIMATE, CallFlow
from handlers.llm import configured_limits, flow_settings
from handlers.pattern import FORGET_CLAIM_HANDLER, Pattern
from handlers.provider_budget import AdmitTarget, Ask, Parking, acquire
from handlers.request_ids import (
    Claim,
    Claimed,
    fingerprint,
    take_session_claim,
)
from handlers.runtime import R, model_refusal, publish_dead_letter, request_flow, run_pattern

log = get_logger(__name__)

MAX_SESSION_ID_CHARS = 256
SOURCE_IS_OURS = "source is set by agentpipe from the record's coordinates; a request may not carry one"


class IntakeOutcome(BaseModel):
    """What became of one record: its request ran (``result`` is the result's status), or it did not."""

    status: Literal["handed-on", "processed", "duplicate", "dead-lettered", "parked"]
    request_id: str | None = None
    result: str | None = None
    error: str | None = None


def record_source(headers: dict[str, str]) -> Source | None:
    try:
        return Source(
            topic=headers["kafka.topic"], partition=int(headers["kafka.partition"]), offset=int(headers["kafka.offset"])
        )
    except (KeyError, ValueError):
        return None  # not delivered by a Kafka subscription


def record_origin(headers: dict[str, str], raw: bytes) -> tuple[Source | None, bytes]:
    """Where a record was produced, and its value. A copy the gate made (subscriptions/gate.py) names
    its original; a record on a gated topic that is no such copy is refused."""
    source = record_source(headers)
    if source is None or not is_gated(source.topic):
        return source, raw
    try:
        return unwrap(raw)
    except ValueError as exc:
        raise RejectedRecord(f"{exc}: only the gate writes {source.topic}") from None


def record_key(headers: dict[str, str]) -> str | None:
    """The record key as text; Restate passes it base64-encoded in ``kafka.key``.

    Restate writes URL-safe base64; the standard alphabet is read too, and missing padding, so no
    key that Restate can send is mistaken for an unreadable one (which skips the checks of a key).
    """
    encoded = headers.get("kafka.key")
    if encoded is None:
        return None
    standard = encoded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def parse_request(raw: bytes, model: type[R], source: Source | None, header_request_id: str | None = None) -> R:
    """Validate one record value; raises RejectedRecord with a message a person can act on."""
    body = decode_json_object(raw, get_settings().max_record_bytes)
    if "source" in body:  # the record's coordinates, set below; never what a producer claims
        raise RejectedRecord(SOURCE_IS_OURS)
    try:
        request = model.model_validate(body)
    except ValidationError as exc:
        raise RejectedRecord(
            f"record value does not match the {model.__name__} schema: {printable(describe_validation_error(exc), 500)}"
        ) from None
    request.source = source
    if not request.request_id:
        # Stable across redeliveries of the same record, so retries never fork the request.
        request.request_id = header_request_id or (source.coordinates() if source else None)
    return request


def check_session_key(session_key: str | None) -> str:
    if not session_key:
        raise RejectedRecord("chat record has no key: the key must be the session id (non-empty UTF-8)")
    if len(session_key) > MAX_SESSION_ID_CHARS:
        raise RejectedRecord(f"chat session id is {len(session_key)} characters, over {MAX_SESSION_ID_CHARS}")
    return session_key


def admissible(
    raw: bytes, pattern: Pattern[R], session_key: str | None, headers: dict[str, str], source: Source | None
) -> tuple[R, str]:
    """The request the record holds and its fingerprint; every way this can fail is a RejectedRecord."""
    if source is None:
        raise RejectedRecord("not a Kafka record: the ingest handlers take records from subscriptions only")
    if pattern.keyed:
        check_session_key(session_key)
    request = parse_request(raw, pattern.request, source, headers.get("request-id"))
    settings = get_settings()
    problem = request.model and model_refusal(request.model, settings.llm_model, settings.allowed_models)
    if problem:
        raise RejectedRecord(problem)
    try:
        # The fingerprint encodes the request again, as the steps will: what cannot be encoded is refused here.
        return request, fingerprint(request)
    except Exception as exc:  # noqa: BLE001 - whatever breaks re-encoding, a retry would break it again
        raise RejectedRecord(f"record value cannot be encoded again: {printable(str(exc))}") from None


async def ingest(ctx: restate.Context, raw: bytes, pattern: Pattern[Any], session_key: str | None) -> IntakeOutcome:
    """Admit one record of ``pattern``'s request topic; hand it on to its request id, or (chat) run it here."""
    headers = ctx.request().headers
    key = record_key(headers)
    try:
        source, raw = record_origin(headers, raw)
        request, body_fingerprint = admissible(raw, pattern, session_key, headers, source)
    except RejectedRecord as exc:
        letter = await publish_dead_letter(ctx, key, source, str(exc), raw)
        return IntakeOutcome(status="dead-lettered", error=letter.error)
    assert request.request_id is not None  # parse_request falls back on the record's coordinates
    bind_request(ctx.request().id, request.request_id, pattern.name)
    if not pattern.keyed:
        # One-way: this invocation ends now and holds no invoker slot while the request waits its turn.
        handed = HandedRequest(
            request=request.model_dump(mode="json"), fingerprint=body_fingerprint, record_key=key, record=raw
        )
        target = claim_key(pattern.name, request.request_id)
        model = request.model or get_settings().llm_model
        if configured_limits(model).limited:
            # Its model has a budget: the request waits in the budget's queue, not yet claimed, and
            # the budget starts it (claim and run) when its turn comes. Read from the settings like the
            # checks above: an ingest runs once, in one attempt, before any step.
            park_at_ingest(ctx, pattern, request, handed, model, target)
            return IntakeOutcome(status="parked", request_id=request.request_id)
        ctx.generic_send(REQUEST_IDS, taker_handler(pattern.name), handed.model_dump_json().encode(), key=target)
        return IntakeOutcome(status="handed-on", request_id=request.request_id)
    # Keyed (chat): the session's object is the claim's home, so the message keeps its place in order.
    object_ctx = cast(restate.ObjectContext, ctx)
    claim = Claim(fingerprint=body_fingerprint, source=source, invocation_id=ctx.request().id)
    claimed = await take_session_claim(object_ctx, pattern.service, FORGET_CLAIM_HANDLER, request.request_id, claim)
    return await run_claimed(ctx, pattern, request, claimed, key, raw)


async def run_claimed(
    ctx: restate.Context,
    pattern: Pattern[R],
    request: R,
    claimed: Claimed,
    key: str | None,
    raw: bytes,
    flow: CallFlow | None = None,
) -> IntakeOutcome:
    """The first time: run the request; a repeat: nothing; a conflict: a dead letter naming the first."""
    assert request.request_id is not None
    if claimed.outcome == "conflict":
        first = claimed.first_source.coordinates() if claimed.first_source else "an earlier request"
        error = (
            f"request id {request.request_id!r} is already used by a different {pattern.name} request "
            f"({first}); a request id names one request"
        )
        letter = await publish_dead_letter(ctx, key, request.source, error, raw)
        return IntakeOutcome(status="dead-lettered", error=letter.error)
    if claimed.outcome == "repeat":
        log.info("request already taken", first=claimed.first_source)
        return IntakeOutcome(status="duplicate", request_id=request.request_id)
    flow = flow or request_flow(request, pattern.llm_calls)
    result = await run_pattern(ctx, pattern.name, request, pattern.work, keyed=pattern.keyed, flow=flow)
    return IntakeOutcome(status="processed", request_id=request.request_id, result=result.status)


def admit_target(pattern: Pattern[Any], claim_object_key: str) -> AdmitTarget:
    """Where a parked request of ``pattern`` is started when its budget admits it (handlers/taker.py)."""
    return AdmitTarget(service=REQUEST_IDS, handler=admitted_handler(pattern.name), key=claim_object_key)


def park_at_ingest(
    ctx: restate.Context, pattern: Pattern[Any], request: AgentRequest, handed: HandedRequest, model: str, target: str
) -> None:
    """Ask the model's budget to admit the request; it carries the request with its place in the queue."""
    assert request.request_id is not None
    flow = flow_settings(budget_key(get_settings().llm_base_url, model), model)
    priority = effective_priority(request.priority, request.replay_of)
    calls = pattern.llm_calls
    ask = Ask(
        parking=Parking(target=admit_target(pattern, target), request=handed.model_dump(mode="json"), flow=flow),
        queue="interactive" if priority == "interactive" else "batch",
        calls=calls,
        tokens=calls * (len(handed.request.get("message", "")) // 4 + REPLY_TOKENS_ESTIMATE),
        deadline_s=min(flow.deadline_s, request.deadline_s or math.inf),
        request_id=request.request_id,
        limits=flow.limits,
        lease_s=flow.lease_s,
    )
    ctx.object_send(acquire, flow.budget_key, ask)


class HandedRequest(BaseModel):
    """What a pattern's ingest hands to its request id's object: the admitted request and its record."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    request: dict[str, Any]  # validated, with its request id and source filled in
    fingerprint: str
    record_key: str | None = None
    record: bytes = b""  # the record's value, for a conflict's dead letter


async def forget_session_claim(ctx: restate.ObjectContext, request_id: str) -> None:
    """A keyed pattern's object forgets one of its request ids' claims (sent a day after the claim)."""
    ctx.clear(session_claim_key(request_id))


def session_key_of(ctx: restate.ObjectContext) -> str | None:
    """The record key a keyed subscription made the object key; None when the record had none."""
    return ctx.key() if "kafka.key" in ctx.request().headers and ctx.key() != "" else None
