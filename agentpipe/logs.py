"""Structured logs: JSON lines when not on a terminal, with request context bound per invocation.

Handlers bind ``invocation_id``, ``request_id`` and ``pattern`` with ``bind_request``;
every log line written while handling that invocation carries them.
Secrets never reach a log: the redactor masks known secret values wherever they appear.
"""

from __future__ import annotations

import logging
import sys

import structlog

from agentpipe.settings import get_settings

_configured = False


def _secret_values() -> list[str]:
    settings = get_settings()
    values = []
    for secret in (settings.openai_api_key, settings.approval_key):
        if secret is not None and secret.get_secret_value():
            values.append(secret.get_secret_value())
    return values


def _redact(_, __, event_dict: dict) -> dict:
    secrets = _secret_values()
    if not secrets:
        return event_dict
    for key, value in event_dict.items():
        if isinstance(value, str):
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, "***")
            event_dict[key] = value
    return event_dict


def configure_logging(component: str) -> None:
    global _configured
    if _configured:
        return
    level = getattr(logging, get_settings().log_level.upper(), logging.INFO)
    renderer = (
        structlog.dev.ConsoleRenderer() if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    )
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
    # Libraries log through stdlib logging; keep them quiet unless they warn.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _configured = True


def bind_request(invocation_id: str, request_id: str, pattern: str) -> None:
    structlog.contextvars.bind_contextvars(invocation_id=invocation_id, request_id=request_id, pattern=pattern)


def get_logger(name: str = "agentpipe"):
    return structlog.get_logger(name)
