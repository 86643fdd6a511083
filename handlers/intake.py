"""Intake: what a pattern does with a raw Kafka record before it runs the request.

    record → <pattern service>/ingest: decode strictly, validate → (bad: dead letter)
           → claim the request id (reused for another body: dead letter; same body: done)
           → run the pattern in this same invocation

Each pattern service has a private ``ingest`` handler next to its public one
(handlers/pattern.py) and the subscription delivers there, so a request costs
one invocation plus the claim, and its work is journaled once, in the
invocation Kafka started. The handler takes raw bytes, so a record that is not
JSON, has the wrong shape, is too large or (chat) has no key becomes a dead
letter instead of a failed invocation, and its partition keeps flowing. No
exception of decoding, validating or re-encoding escapes: a retry could never
fix it, and for chat it would hold up every later message of the session.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Literal

import restate
from pydantic import BaseModel, ValidationError

from agentpipe.logs import bind_request, get_logger
from agentpipe.messages import Source, describe_validation_error
from agentpipe.settings import get_settings
from handlers.claim_keys import claim_key
from handlers.records import RejectedRecord, decode_json_object, printable
from handlers.request_ids import Claim, claim, fingerprint
from handlers.runtime import R, model_refusal, publish_dead_letter, run_pattern

if TYPE_CHECKING:
    from handlers.pattern import Pattern

log = get_logger(__name__)

MAX_SESSION_ID_CHARS = 256


class IntakeOutcome(BaseModel):
    """What became of one record: its request ran (``result`` is the result's status), or it did not."""

    status: Literal["processed", "duplicate", "dead-lettered"]
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


def record_key(headers: dict[str, str]) -> str | None:
    """The record key as text; Restate passes it base64-encoded in ``kafka.key``."""
    encoded = headers.get("kafka.key")
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def parse_request(raw: bytes, model: type[R], source: Source | None, header_request_id: str | None = None) -> R:
    """Validate one record value; raises RejectedRecord with a message a person can act on."""
    body = decode_json_object(raw, get_settings().max_record_bytes)
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
    """Admit one record of ``pattern``'s request topic and, unless it is bad or a repeat, run it."""
    headers = ctx.request().headers
    source = record_source(headers)
    key = record_key(headers)
    try:
        request, body_fingerprint = admissible(raw, pattern, session_key, headers, source)
    except RejectedRecord as exc:
        letter = await publish_dead_letter(ctx, key, source, str(exc), raw)
        return IntakeOutcome(status="dead-lettered", error=letter.error)
    assert request.request_id is not None  # parse_request falls back on the record's coordinates
    bind_request(ctx.request().id, request.request_id, pattern.name)
    claimed = await ctx.object_call(
        claim,
        key=claim_key(pattern.name, request.request_id),
        arg=Claim(fingerprint=body_fingerprint, source=source, invocation_id=ctx.request().id),
    )
    if claimed.outcome == "conflict":
        first = claimed.first_source.coordinates() if claimed.first_source else "an earlier request"
        error = (
            f"request id {request.request_id!r} is already used by a different {pattern.name} request "
            f"({first}); a request id names one request"
        )
        letter = await publish_dead_letter(ctx, key, source, error, raw)
        return IntakeOutcome(status="dead-lettered", error=letter.error)
    if claimed.outcome == "repeat":
        log.info("request already taken", first=claimed.first_source)
        return IntakeOutcome(status="duplicate", request_id=request.request_id)
    result = await run_pattern(ctx, pattern.name, request, pattern.work, keyed=pattern.keyed)
    return IntakeOutcome(status="processed", request_id=request.request_id, result=result.status)


def session_key_of(ctx: restate.ObjectContext) -> str | None:
    """The record key a keyed subscription made the object key; None when the record had none."""
    return ctx.key() if "kafka.key" in ctx.request().headers and ctx.key() != "" else None
