"""The approval key must be at least 32 random bytes, and its file private (agentpipe/settings.py)."""

from __future__ import annotations

import base64
import secrets

import pytest
from pydantic import ValidationError

from agentpipe.settings import Settings, approval_key_problem, key_bytes, secret_file_problem


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_hex(32),
        secrets.token_hex(32).upper(),
        secrets.token_hex(48),
        base64.b64encode(secrets.token_bytes(32)).decode(),
        base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
    ],
)
def test_random_keys_of_32_bytes_or_more_are_taken(key):
    assert approval_key_problem(key) is None


@pytest.mark.parametrize(
    "key",
    [
        "k",
        "correct horse battery staple",
        "approval-key-that-must-not-leak-7d1c",
        secrets.token_hex(31),  # 31 bytes
        "k" * 64,  # base64 of a repeat
        "ab" * 32,  # hex of a repeat
        "0123456789abcdef" * 4,  # hex, 16 distinct bytes at most... of 32
        base64.b64encode(b"\0" * 32).decode(),
    ],
)
def test_weak_keys_are_refused_and_the_fix_is_named(key):
    problem = approval_key_problem(key)
    assert problem and "at least 32 random bytes" in problem and "openssl rand -hex 32" in problem
    assert len(key) < 8 or key not in problem  # the refusal never repeats the key


def test_key_bytes_reads_hex_and_both_base64_alphabets():
    raw = bytes(range(250, 256)) + b"\xfb\xff" * 2
    assert key_bytes(raw.hex()) == raw
    assert key_bytes(base64.b64encode(raw).decode()) == raw
    assert key_bytes(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    assert key_bytes("not a key!") is None


def test_settings_refuse_a_weak_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("AGENTPIPE_APPROVAL_KEY", "hunter2-hunter2-hunter2-hunter2-hunter2")
    with pytest.raises(ValidationError, match="at least 32 random bytes"):
        Settings()


def test_settings_refuse_a_key_file_others_can_read(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTPIPE_APPROVAL_KEY", raising=False)
    monkeypatch.setenv("AGENTPIPE_STATE_DIR", str(tmp_path))
    key_file = tmp_path / "approval.key"
    key_file.write_text(secrets.token_hex(32))
    key_file.chmod(0o640)
    with pytest.raises(ValidationError, match=r"open to other users \(mode 0640\)"):
        Settings()
    key_file.chmod(0o600)
    assert Settings().approval_key is not None


def test_secret_file_problem(tmp_path):
    path = tmp_path / "k"
    assert secret_file_problem(path) is None  # absent
    path.write_text("x")
    path.chmod(0o600)
    assert secret_file_problem(path) is None
    path.chmod(0o604)
    assert "chmod 600" in (secret_file_problem(path) or "")
