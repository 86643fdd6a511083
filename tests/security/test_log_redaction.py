"""Secrets never reach a log line: nested fields, other libraries' loggers and echoed key fragments."""

from __future__ import annotations

import logging

import pytest

from agentpipe import logs
from agentpipe.settings import get_settings

SECRET = "bbb57bdb38ba8450c0686acf99e0b69c04a7e79ae7236e254378b785343b702e"  # the approval key, which must not leak
API_KEY = "sk-test-" + "a1b2c3d4" * 4


@pytest.fixture
def secrets_configured(monkeypatch):
    monkeypatch.setenv("AGENTPIPE_APPROVAL_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("AGENTPIPE_KAFKA_OPTIONS", '{"sasl.password": "kafka-pass-9f8e", "sasl.username": "svc"}')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_nested_fields_are_redacted(secrets_configured):
    event = {
        "event": "call",
        "request": {"headers": [f"Bearer {API_KEY}", {"key": SECRET}]},
        "error": RuntimeError(f"bad key {SECRET}"),
        "kafka": ("svc", "kafka-pass-9f8e"),
    }
    redacted = logs._redact(None, None, event)
    text = repr(redacted)
    assert SECRET not in text and API_KEY not in text and "kafka-pass-9f8e" not in text, text
    assert redacted["kafka"][0] == "svc", "values that are not secrets stay"


def test_other_libraries_log_lines_are_redacted(secrets_configured):
    record = logging.LogRecord("httpx", logging.WARNING, __file__, 1, "sending %s with %s", (API_KEY, SECRET), None)
    assert logs._RedactingFilter().filter(record)
    assert API_KEY not in record.getMessage() and SECRET not in record.getMessage(), record.getMessage()


def test_an_echoed_key_fragment_is_masked(secrets_configured):
    echoed = f"Incorrect API key provided: {API_KEY[:8]}{'*' * 20}{API_KEY[-4:]}. See your account settings."
    scrubbed = logs.scrub_secrets(echoed)
    assert API_KEY[:8] not in scrubbed and API_KEY[-4:] not in scrubbed, scrubbed
    assert (
        logs.scrub_secrets("a task-decomposition and a desk-top stay as they are")
        == "a task-decomposition and a desk-top stay as they are"
    )
