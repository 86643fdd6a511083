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

from agentpipe.flow import Priority

Status = Literal["ok", "error", "rejected", "timed_out"]
# The contract's major version: every message carries it. Adding an optional field is a compatible
# change and keeps the number; removing, renaming or retyping a field raises it (docs/contract.md).
SCHEMA_VERSION = 1
Decision = Literal["approved", "rejected"]


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Source(BaseModel):
    """Where a record was read: its Kafka coordinates."""

    topic: str = Field(description="The record's topic.")
    partition: int = Field(description="Its partition.")
    offset: int = Field(description="Its offset in the partition.")

    def coordinates(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


# Every pattern declares ``message`` again with its own default (its example), so the words live here.
MESSAGE_DESCRIPTION = "The input text; absent: the pattern's example."


class AgentRequest(BaseModel):
    """Fields common to every pattern request; patterns subclass it with their own defaults."""

    model_config = ConfigDict(extra="allow")

    # Absent means 1; a request written for a later major version is refused, not guessed at.
    schema_version: int = Field(
        default=SCHEMA_VERSION,
        ge=1,
        le=SCHEMA_VERSION,
        description="The contract's major version the record was written for; absent means 1. "
        "A record written for a later version is dead-lettered.",
    )

    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Names the request: ties it to its result and de-duplicates it. Absent: the record's "
        "coordinates <topic>/<partition>/<offset>.",
    )
    message: str = Field(default="", description=MESSAGE_DESCRIPTION)
    replay_of: str | None = Field(
        default=None,
        description="Set by `agentpipe replay`: the id of the request this one repeats; copied to the result.",
    )
    # The model and sampling temperature to run with (the settings' model when absent); the model must
    # be the default or in AGENTPIPE_ALLOWED_MODELS. Part of the request, so a replay after a crash
    # keeps the choice.
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The model to run with; absent: the configured one. Any other model must be listed in "
        "AGENTPIPE_ALLOWED_MODELS, or the record is dead-lettered.",
    )
    temperature: float | None = Field(
        default=None, ge=0, le=2, description="The sampling temperature; absent: the model's default."
    )
    priority: Priority | None = Field(
        default=None,
        description="interactive or batch: when the model's budget is short, interactive requests' calls go first. "
        "Absent: batch when replay_of is set, else interactive.",
    )
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=30 * 24 * 3600,
        description="How long, in seconds from its first wait, the request may be held back by the model "
        "provider's rate limits before it ends with status error; absent or longer: "
        "AGENTPIPE_LLM_RATE_LIMIT_DEADLINE_S (default 3600).",
    )
    # Set by the intake for records that came from Kafka; absent over HTTP ingress.
    source: Source | None = Field(
        default=None, description="Set by agentpipe to the record's coordinates; a request that carries one is refused."
    )


class Usage(BaseModel):
    """What a request cost: its LLM calls and their tokens, as the model reported them.

    Summed over the request's journaled steps, so a step replayed from the journal after a
    crash counts once, as it was executed; an attempt that failed and was retried does not count.
    """

    llm_calls: int = Field(default=0, ge=0, description="LLM calls, each journaled step counted once.")
    prompt_tokens: int = Field(default=0, ge=0, description="Prompt tokens of those calls, as the model reported them.")
    completion_tokens: int = Field(
        default=0, ge=0, description="Completion tokens of those calls, as the model reported them."
    )
    model: str = Field(
        default="",
        description="The model that answered (the last one, should a request use several); empty when no LLM "
        "call was made.",
    )

    def plus(self, other: Usage) -> Usage:
        return Usage(
            llm_calls=self.llm_calls + other.llm_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            model=other.model or self.model,
        )


class AgentResult(BaseModel):
    """The one result of a request."""

    # A reader (the CLI, a consumer) keeps fields a newer producer added; they print with the rest.
    model_config = ConfigDict(extra="allow")

    schema_version: int = Field(default=SCHEMA_VERSION, description="The contract's major version.")
    request_id: str = Field(min_length=1, description="The request's id.")
    pattern: str = Field(description="The pattern that ran, e.g. chaining.")
    status: Status = Field(
        description="ok, or error (see error); rejected and timed_out come from human-in-the-loop only."
    )
    output: str | list[str] = Field(
        description="The answer: a list of strings for parallel-agents and orchestrator; empty when status is error."
    )
    error: str | None = Field(default=None, description="Why, when status is error.")
    session_id: str | None = Field(default=None, description="Chat only: the session id.")
    route: str | None = Field(default=None, description="Routing patterns only: billing, account or product.")
    source: Source | None = Field(default=None, description="The request record's coordinates; null over HTTP ingress.")
    replay_of: str | None = Field(default=None, description="Copied from the request.")
    usage: Usage = Field(default_factory=Usage, description="What the request cost: its LLM calls and tokens.")
    completed_at: str = Field(default="", description="When the result was published: RFC 3339, UTC, milliseconds.")

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
    """A decision the human-in-the-loop handler asks a person for."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="The contract's major version.")
    approval_id: str = Field(description="Names the approval; a decision quotes it.")
    request_id: str = Field(description="The moderation request that waits for the decision.")
    content: str = Field(description="The text to judge.")
    reason: str = Field(description="Why the handler could not decide alone.")
    requested_at: str = Field(description="When it was published: RFC 3339, UTC, milliseconds.")


class ApprovalEvent(BaseModel):
    """A person's decision on an approval request."""

    schema_version: int = Field(
        default=SCHEMA_VERSION,
        ge=1,
        le=SCHEMA_VERSION,
        description="The contract's major version the event was written for; absent means 1. An event written "
        "for a later version is dead-lettered.",
    )
    approval_id: str = Field(min_length=1, max_length=256, description="From the approval request.")
    decision: Decision = Field(description="The decision.")
    reviewer: str = Field(default="", description="Who decided; shown in the result.")
    comment: str = Field(default="", description="Shown in the result.")
    signature: str | None = Field(
        default=None,
        description='Lowercase hex HMAC-SHA256, keyed with the approval key, of the UTF-8 bytes of approval_id + "\\n" '
        "+ decision. An event without a valid signature changes nothing and is dead-lettered.",
    )


class DeadLetter(BaseModel):
    """A record that could not be processed, with the reason and its bytes."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="The contract's major version.")
    source: Source | None = Field(description="The failed record's coordinates.")
    error: str = Field(description="Why, in words a person can act on.")
    payload_base64: str = Field(
        description="The record's value, byte for byte, base64 (its start only when payload_truncated)."
    )
    failed_at: str = Field(description="When the record was dead-lettered: RFC 3339, UTC, milliseconds.")
    # The original payload's size; when it was too large to carry whole, payload_base64 holds its start.
    payload_bytes: int = Field(default=0, description="The size of the record's value.")
    payload_truncated: bool = Field(default=False, description="True when the value was too large to carry whole.")

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
