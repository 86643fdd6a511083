"""Where a request id's claim lives: the ``RequestIds`` object keyed ``<pattern>:<request id>``
(state ``first``), or for a keyed pattern (chat) its own object, state ``request-id:<request id>``.

Apart from handlers/request_ids.py so that readers (``agentpipe status``, ``cancel``) name
the objects without importing, and so configuring, the services themselves.
"""

from __future__ import annotations

REQUEST_IDS = "RequestIds"
SESSION_CLAIM_PREFIX = "request-id:"
# The state key of a RequestIds object's claim.
FIRST = "first"


def claim_key(pattern: str, request_id: str) -> str:
    return f"{pattern}:{request_id}"


def session_claim_key(request_id: str) -> str:
    """Where a keyed pattern's object (a chat session) keeps the claim of one of its request ids."""
    return SESSION_CLAIM_PREFIX + request_id


def taker_handler(pattern: str) -> str:
    """``RequestIds``' handler that runs ``pattern``'s requests from Kafka (a handler name has no '-')."""
    return pattern.replace("-", "_")


def admitted_handler(pattern: str) -> str:
    """``RequestIds``' handler that starts a parked request of ``pattern`` when its budget admits it."""
    return f"{taker_handler(pattern)}_admitted"


def runs_pattern_sql(service: str, pattern: str) -> str:
    """A ``sys_invocation`` condition: the invocation runs a request of this pattern (over HTTP or from Kafka)."""
    return (
        f"(target_service_name = '{service}' OR (target_service_name = '{REQUEST_IDS}' "
        f"AND target_handler_name IN ('{taker_handler(pattern)}', '{admitted_handler(pattern)}')))"
    )
