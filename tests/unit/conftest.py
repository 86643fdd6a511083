"""The unit tier: pure Python, in process, no stack. Every test here sees the documented defaults."""

from __future__ import annotations

import os

import pytest

from agentpipe.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def default_settings(monkeypatch, tmp_path) -> Settings:
    """Settings without any AGENTPIPE_*/OPENAI_* variable of the session, and an empty state folder."""
    for name in list(os.environ):
        if name.startswith(("AGENTPIPE_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AGENTPIPE_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
