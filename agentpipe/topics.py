"""Topic names: one request and one result topic per pattern, plus the shared topics.

Pure naming from the ``topic_prefix`` setting (or the ``prefix`` given, as the published
contract does with the default one). Which patterns exist is declared
by the pattern modules (handlers/catalog.py); which topic feeds which handler is
subscriptions/desired.py.
"""

from __future__ import annotations

from agentpipe.settings import get_settings


def _prefix(prefix: str | None) -> str:
    return get_settings().topic_prefix if prefix is None else prefix


def request_topic(pattern: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}requests.{pattern}"


def result_topic(pattern: str, prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}results.{pattern}"


def approval_requests_topic(prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}approval-requests"


def approvals_topic(prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}approvals"


def dead_letters_topic(prefix: str | None = None) -> str:
    return f"{_prefix(prefix)}dead-letters"
