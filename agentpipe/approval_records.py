"""Reading an approval event off the approvals topic: shared by the gate (subscriptions/gate.py), which
refuses bad ones before Restate sees them, and the approval intake (handlers/approvals.py), so both
refuse a record in the same words."""

from __future__ import annotations

from pydantic import ValidationError

from agentpipe.messages import ApprovalEvent, describe_validation_error
from agentpipe.records import RejectedRecord, decode_json_object, printable
from agentpipe.settings import get_settings


def parse_approval_event(raw: bytes, key: str | None) -> ApprovalEvent:
    """The event of an approvals record with record key ``key``; RejectedRecord says why not."""
    body = decode_json_object(raw, get_settings().max_record_bytes, "approval event")
    try:
        event = ApprovalEvent.model_validate(body)
    except ValidationError as exc:
        raise RejectedRecord(
            f"approval event does not match the schema: {printable(describe_validation_error(exc), 500)}"
        ) from None
    # The key picks the Virtual Object that orders one approval's decisions: it must be the approval's.
    if key is not None and key != event.approval_id:
        raise RejectedRecord(f"record key {printable(key)!r} is not the approval id {event.approval_id!r}")
    return event
