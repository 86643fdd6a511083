"""Topic names: one request and one result topic per pattern, plus the shared topics.

Pure naming from the ``topic_prefix`` setting. Which patterns exist is declared
by the pattern modules (handlers/catalog.py); which topic feeds which handler is
subscriptions/desired.py.
"""

from __future__ import annotations

from agentpipe.settings import get_settings


def _prefix() -> str:
    return get_settings().topic_prefix


def request_topic(pattern: str) -> str:
    return f"{_prefix()}requests.{pattern}"


def result_topic(pattern: str) -> str:
    return f"{_prefix()}results.{pattern}"


def approval_requests_topic() -> str:
    return f"{_prefix()}approval-requests"


def approvals_topic() -> str:
    return f"{_prefix()}approvals"


def dead_letters_topic() -> str:
    return f"{_prefix()}dead-letters"
