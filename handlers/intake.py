"""Intake: the thin handlers the Kafka subscriptions deliver raw records to.

    record → validate → (bad: dead letter) → send to the pattern handler, idempotency key = request id

The intake takes raw bytes, so a record that is not JSON, has the wrong shape,
is too large or (chat) has no key becomes a dead letter instead of a failed
invocation, and its partition keeps flowing. Forwarding with the request id as
idempotency key makes two records with the same id run once. The intake holds
no LLM step: the pattern invocation keeps the only journal of the work.
"""

from __future__ import annotations

import base64
import binascii
import json

import restate
from pydantic import ValidationError
from restate.serde import BytesSerde

from agentpipe.logs import bind_request, get_logger
from agentpipe.messages import AgentRequest, Source, describe_validation_error
from agentpipe.settings import get_settings
from handlers.requests import REQUEST_MODELS
from handlers.runtime import publish_dead_letter
from subscriptions.topics import CHAT_INTAKE, REQUEST_INTAKE, pattern_for_request_topic

log = get_logger(__name__)


class RejectedRecord(Exception):
    """A record that can never be processed; it goes to the dead-letter topic."""


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
        return base64.b64decode(encoded).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def parse_request(
    raw: bytes, model: type[AgentRequest], source: Source | None, header_request_id: str | None = None
) -> AgentRequest:
    """Validate one record value; raises RejectedRecord with a message a person can act on."""
    limit = get_settings().max_record_bytes
    if len(raw) > limit:
        raise RejectedRecord(f"record value is {len(raw)} bytes, over the limit of {limit} bytes")
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RejectedRecord(f"record value is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RejectedRecord(f"record value must be a JSON object, got {type(body).__name__}")
    try:
        request = model.model_validate(body)
    except ValidationError as exc:
        raise RejectedRecord(
            f"record value does not match the {model.__name__} schema: {describe_validation_error(exc)}"
        ) from None
    request.source = source
    if not request.request_id:
        # Stable across redeliveries of the same record, so retries never fork the request.
        request.request_id = header_request_id or (source.coordinates() if source else None)
    return request


async def _ingest(ctx: restate.Context, raw: bytes, session_key: str | None) -> dict:
    headers = ctx.request().headers
    source = record_source(headers)
    key = record_key(headers)
    pattern = pattern_for_request_topic(source.topic) if source else None
    try:
        if pattern is None:
            raise RejectedRecord(f"no pattern is subscribed to topic {source.topic if source else '(none)'}")
        if pattern.keyed and not session_key:
            raise RejectedRecord("chat record has no key: the key must be the session id (non-empty UTF-8)")
        request = parse_request(raw, REQUEST_MODELS[pattern.name], source, headers.get("request-id"))
    except RejectedRecord as exc:
        letter = await publish_dead_letter(ctx, key, source, str(exc), raw)
        return {"status": "dead-lettered", "error": letter["error"]}
    bind_request(ctx.request().id, request.request_id, pattern.name)
    ctx.generic_send(
        pattern.service,
        pattern.handler,
        request.model_dump_json(exclude_none=True).encode(),
        key=session_key if pattern.keyed else None,
        idempotency_key=request.request_id,
    )
    log.info("request forwarded", service=pattern.service)
    return {"status": "forwarded", "request_id": request.request_id}


request_intake = restate.Service(REQUEST_INTAKE[0])


@request_intake.handler(REQUEST_INTAKE[1], accept="*/*", input_serde=BytesSerde())
async def ingest(ctx: restate.Context, raw: bytes) -> dict:
    return await _ingest(ctx, raw, session_key=None)


# A Virtual Object keyed by the record key: records of one session pass in topic order.
chat_intake = restate.VirtualObject(CHAT_INTAKE[0])


@chat_intake.handler(CHAT_INTAKE[1], accept="*/*", input_serde=BytesSerde())
async def ingest_chat(ctx: restate.ObjectContext, raw: bytes) -> dict:
    has_key = "kafka.key" in ctx.request().headers and ctx.key() != ""
    return await _ingest(ctx, raw, session_key=ctx.key() if has_key else None)
