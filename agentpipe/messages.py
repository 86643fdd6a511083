"""The message contract (docs/contract.md) as typed models.

Requests are validated at the edge (the intake); results, approval requests,
approval events and dead letters are built only through these models.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

Status = Literal["ok", "error", "rejected", "timed_out"]
# The contract's major version: every message carries it. Adding an optional field is a compatible
# change and keeps the number; removing, renaming or retyping a field raises it (docs/contract.md).
SCHEMA_VERSION = 1
Decision = Literal["approved", "rejected"]


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Source(BaseModel):
    topic: str
    partition: int
    offset: int

    def coordinates(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


class AgentRequest(BaseModel):
    """Fields common to every pattern request; patterns subclass it with their own defaults."""

    model_config = ConfigDict(extra="allow")

    # Absent means 1; a request written for a later major version is refused, not guessed at.
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)

    request_id: str | None = Field(default=None, min_length=1, max_length=256)
    message: str = ""
    replay_of: str | None = None
    # The model and sampling temperature to run with (the settings' model when absent); the model must
    # be the default or in AGENTPIPE_ALLOWED_MODELS. Part of the request, so a replay after a crash
    # keeps the choice.
    model: str | None = Field(default=None, min_length=1, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    # Set by the intake for records that came from Kafka; absent over HTTP ingress.
    source: Source | None = None


class Usage(BaseModel):
    """What a request cost: its LLM calls and their tokens, as the model reported them.

    Summed over the request's journaled steps, so a step replayed from the journal after a
    crash counts once, as it was executed; an attempt that failed and was retried does not count.
    """

    llm_calls: int = Field(default=0, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    model: str = ""  # the model that answered (the last one, should a request use several)

    def plus(self, other: Usage) -> Usage:
        return Usage(
            llm_calls=self.llm_calls + other.llm_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            model=other.model or self.model,
        )


class AgentResult(BaseModel):
    # A reader (the CLI, a consumer) keeps fields a newer producer added; they print with the rest.
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    request_id: str = Field(min_length=1)
    pattern: str
    status: Status
    output: str | list[str]
    error: str | None = None
    session_id: str | None = None
    route: str | None = None
    source: Source | None = None
    replay_of: str | None = None
    usage: Usage = Field(default_factory=Usage)
    completed_at: str = ""

    @model_serializer(mode="wrap")
    def _only_own_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # session_id belongs to chat results and route to routing results only: absent elsewhere.
        value: dict[str, Any] = handler(self)
        for field in ("session_id", "route"):
            if value.get(field) is None:
                value.pop(field, None)
        return value


class ChatTurn(BaseModel):
    """One message of a chat session's history."""

    role: Literal["user", "assistant"]
    content: str


class ApprovalRequest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    approval_id: str
    request_id: str
    content: str
    reason: str
    requested_at: str


class ApprovalEvent(BaseModel):
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    approval_id: str = Field(min_length=1, max_length=256)
    decision: Decision
    reviewer: str = ""
    comment: str = ""
    signature: str | None = None


class DeadLetter(BaseModel):
    schema_version: int = SCHEMA_VERSION
    source: Source | None
    error: str
    payload_base64: str
    failed_at: str
    # The original payload's size; when it was too large to carry whole, payload_base64 holds its start.
    payload_bytes: int = 0
    payload_truncated: bool = False

    @classmethod
    def for_payload(
        cls, source: Source | None, error: str, payload: bytes, failed_at: str, keep_bytes: int | None = None
    ) -> DeadLetter:
        kept = payload if keep_bytes is None else payload[:keep_bytes]
        return cls(
            source=source,
            error=error,
            payload_base64=base64.b64encode(kept).decode(),
            failed_at=failed_at,
            payload_bytes=len(payload),
            payload_truncated=len(kept) < len(payload),
        )


def approval_signature(key: bytes, approval_id: str, decision: str) -> str:
    """Hex HMAC-SHA256 over ``approval_id + "\\n" + decision`` with the approval key."""
    return hmac.new(key, f"{approval_id}\n{decision}".encode(), hashlib.sha256).hexdigest()


SIGNATURE_HEX_CHARS = 64


def signature_problem(key: bytes | None, event: ApprovalEvent) -> str:
    """Why the event's signature does not hold; "" when it does."""
    if key is None:
        return "no approval key is configured, so no decision is accepted"
    signature = event.signature or ""
    if not signature:
        return "approval event has no signature"
    # Only hex of the right length is compared (compare_digest refuses non-ASCII text); either case is hex.
    if len(signature) != SIGNATURE_HEX_CHARS or any(c not in "0123456789abcdefABCDEF" for c in signature):
        return f"approval signature must be {SIGNATURE_HEX_CHARS} hex characters"
    expected = approval_signature(key, event.approval_id, event.decision)
    return "" if hmac.compare_digest(expected, signature.lower()) else "approval signature is invalid"


def signature_is_valid(key: bytes | None, event: ApprovalEvent) -> bool:
    return not signature_problem(key, event)


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field, for dead letters a person reads."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
