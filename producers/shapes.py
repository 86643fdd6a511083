"""What the CLI accepts from a topic or from Restate's state: every value is checked before use.

A record of the wrong shape (not JSON, missing fields, wrong types) is skipped
and counted, never a traceback. Results are the contract's ``AgentResult``,
checked strictly; fields this version does not know are kept, so JSON output
shows them.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from agentpipe.messages import AgentResult


class _Checked(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Source(_Checked):
    topic: StrictStr
    partition: StrictInt
    offset: StrictInt


class ApprovalRequestShape(_Checked):
    approval_id: StrictStr
    request_id: StrictStr
    content: StrictStr
    reason: StrictStr
    requested_at: StrictStr | None = None


class ApprovalRequestValue(TypedDict):
    """An approval request as ``as_approval_request`` hands it on: the record's own value,
    checked against ApprovalRequestShape (fields this version does not know stay in it)."""

    approval_id: str
    request_id: str
    content: str
    reason: str
    requested_at: NotRequired[str | None]


def _checked(model: type[_Checked], value: Any) -> dict | None:
    if not isinstance(value, dict):
        return None
    try:
        model.model_validate(value)
    except ValidationError:
        return None
    return value if value.get("request_id") else None


def as_result(value: Any) -> AgentResult | None:
    """``value`` as a result (the contract's model, unknown fields kept), or None when it is not one."""
    if not isinstance(value, dict):
        return None
    try:
        return AgentResult.model_validate(value, strict=True)
    except ValidationError:
        return None


def as_approval_request(value: Any) -> ApprovalRequestValue | None:
    checked = _checked(ApprovalRequestShape, value)
    # ApprovalRequestShape has just validated the keys and types ApprovalRequestValue names.
    return cast(ApprovalRequestValue, checked) if checked is not None else None


class SkipCount:
    """How many records were skipped because of their shape; shown with --verbose."""

    def __init__(self) -> None:
        self.count = 0

    def add(self) -> None:
        self.count += 1
