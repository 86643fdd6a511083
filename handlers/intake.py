"""Intake: the thin handlers the Kafka subscriptions deliver raw records to.

    record → decode strictly, validate → (bad: dead letter) → claim the request id (reused for
    another body: dead letter) → send to the pattern handler, idempotency key = request id

The intake takes raw bytes, so a record that is not JSON, has the wrong shape,
is too large or (chat) has no key becomes a dead letter instead of a failed
invocation, and its partition keeps flowing. No exception of decoding,
validating or re-encoding escapes: a retry could never fix it, and for chat
it would hold up every later message of the session. Forwarding with the
request id as idempotency key makes two records with the same id run once. The
intake holds no LLM step: the pattern invocation keeps the only journal of the work.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

import restate
from pydantic import BaseModel, ValidationError
from restate.serde import BytesSerde

from agentpipe.logs import bind_request, get_logger
from agentpipe.messages import AgentRequest, Source, describe_validation_error
from agentpipe.settings import get_settings
from handlers.catalog import pattern_for_request_topic
from handlers.pattern import Pattern
from handlers.policies import invocation_retry_policy
from handlers.records import RejectedRecord, decode_json_object, printable
from handlers.request_ids import Claim, claim, fingerprint
from handlers.runtime import R, model_refusal, publish_dead_letter
from subscriptions.desired import CHAT_INTAKE, REQUEST_INTAKE

log = get_logger(__name__)

MAX_SESSION_ID_CHARS = 256


class IntakeOutcome(BaseModel):
    status: Literal["forwarded", "duplicate", "dead-lettered"]
    request_id: str | None = None
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


def _forwardable(
    raw: bytes, pattern: Pattern[Any] | None, session_key: str | None, headers: dict[str, str], source: Source | None
) -> tuple[AgentRequest, bytes]:
    """The request and the exact bytes to forward; every way this can fail is a RejectedRecord."""
    if pattern is None:
        raise RejectedRecord(f"no pattern is subscribed to topic {source.topic if source else '(none)'}")
    if pattern.keyed:
        check_session_key(session_key)
    request = parse_request(raw, pattern.request, source, headers.get("request-id"))
    settings = get_settings()
    problem = request.model and model_refusal(request.model, settings.llm_model, settings.allowed_models)
    if problem:
        raise RejectedRecord(problem)
    try:
        return request, request.model_dump_json(exclude_none=True).encode()
    except Exception as exc:  # noqa: BLE001 - whatever breaks re-encoding, a retry would break it again
        raise RejectedRecord(f"record value cannot be encoded again: {printable(str(exc))}") from None


async def _ingest(ctx: restate.Context, raw: bytes, session_key: str | None) -> IntakeOutcome:
    headers = ctx.request().headers
    source = record_source(headers)
    key = record_key(headers)
    pattern = pattern_for_request_topic(source.topic) if source else None
    try:
        request, payload = _forwardable(raw, pattern, session_key, headers, source)
    except RejectedRecord as exc:
        letter = await publish_dead_letter(ctx, key, source, str(exc), raw)
        return IntakeOutcome(status="dead-lettered", error=letter.error)
    assert pattern is not None and request.request_id is not None
    bind_request(ctx.request().id, request.request_id, pattern.name)
    claimed = await ctx.object_call(
        claim, key=f"{pattern.name}:{request.request_id}", arg=Claim(fingerprint=fingerprint(request), source=source)
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
        log.info("request already forwarded", first=claimed.first_source)
        return IntakeOutcome(status="duplicate", request_id=request.request_id)
    ctx.generic_send(
        pattern.service,
        pattern.handler,
        payload,
        key=session_key if pattern.keyed else None,
        idempotency_key=request.request_id,
    )
    log.info("request forwarded", service=pattern.service)
    return IntakeOutcome(status="forwarded", request_id=request.request_id)


# Private: only the subscriptions deliver here, never an HTTP caller.
request_intake = restate.Service(
    REQUEST_INTAKE.service, ingress_private=True, invocation_retry_policy=invocation_retry_policy()
)


@request_intake.handler(REQUEST_INTAKE.handler, accept="*/*", input_serde=BytesSerde())
async def ingest(ctx: restate.Context, raw: bytes) -> IntakeOutcome:
    return await _ingest(ctx, raw, session_key=None)


# A Virtual Object keyed by the record key: records of one session pass in topic order.
chat_intake = restate.VirtualObject(
    CHAT_INTAKE.service, ingress_private=True, invocation_retry_policy=invocation_retry_policy()
)


@chat_intake.handler(CHAT_INTAKE.handler, accept="*/*", input_serde=BytesSerde())
async def ingest_chat(ctx: restate.ObjectContext, raw: bytes) -> IntakeOutcome:
    has_key = "kafka.key" in ctx.request().headers and ctx.key() != ""
    return await _ingest(ctx, raw, session_key=ctx.key() if has_key else None)
