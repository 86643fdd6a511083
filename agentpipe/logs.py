"""Structured logs: JSON lines when not on a terminal, with request context bound per invocation.

Handlers bind ``invocation_id``, ``request_id`` and ``pattern`` with ``bind_request``;
every log line written while handling that invocation carries them.
Secrets never reach a log: the redactor masks known secret values (and anything shaped like
an API key) wherever they appear, nested fields and other libraries' log lines included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from agentpipe.settings import get_settings

_configured = False


# What an API key looks like when a provider echoes part of it ("Incorrect API key provided: sk-ab***yz").
_KEY_LIKE = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}")


def scrub_secrets(text: str | None) -> str | None:
    """``text`` with every configured secret, and anything shaped like an API key, masked."""
    if not text:
        return text
    for secret in get_settings().secret_values():
        if secret in text:
            text = text.replace(secret, "***")
    return _KEY_LIKE.sub(lambda m: f"{m.group(1)}-***", text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    if isinstance(value, BaseException):
        return scrub_secrets(f"{type(value).__name__}: {value}")
    return value


def _redact(_logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    # Nested values too: a secret inside a dict or a list field must not slip through.
    return {key: _scrub(value) for key, value in event_dict.items()}


class _RedactingFilter(logging.Filter):
    """Third-party libraries log through stdlib logging; their lines are scrubbed the same way."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = scrub_secrets(record.getMessage())
            record.args = None
        except Exception:  # noqa: BLE001 - a log line that cannot be formatted is dropped, not raised
            return False
        if record.exc_info:
            record.exc_text = scrub_secrets(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(component: str) -> None:
    global _configured
    if _configured:
        return
    level = getattr(logging, get_settings().log_level.upper(), logging.INFO)
    renderer = structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(component=component)
    # Libraries log through stdlib logging; keep them quiet unless they warn, and scrub what they say.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactingFilter())
    _configured = True


def bind_request(invocation_id: str, request_id: str, pattern: str) -> None:
    structlog.contextvars.bind_contextvars(invocation_id=invocation_id, request_id=request_id, pattern=pattern)


def get_logger(name: str = "agentpipe") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
