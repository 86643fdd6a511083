"""Which stack the CLI talks to, and the approval key it signs with: in process, with tmp folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentpipe.settings import get_settings
from producers.approval_key import approval_secret
from producers.errors import InvalidInput
from producers.state_location import locate_state_dir
from tests.cli.cli_run import agentpipe, one_line_error


def test_the_environment_wins(tmp_path):
    (tmp_path / ".agentpipe").mkdir()
    env = {"AGENTPIPE_STATE_DIR": str(tmp_path / "elsewhere"), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert locate_state_dir(env, tmp_path, tmp_path / "home") == tmp_path / "elsewhere"


def test_the_nearest_agentpipe_folder_above_the_working_directory(tmp_path):
    (tmp_path / ".agentpipe").mkdir()
    (tmp_path / "project" / ".agentpipe").mkdir(parents=True)
    deep = tmp_path / "project" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert locate_state_dir({}, deep, tmp_path / "home") == tmp_path / "project" / ".agentpipe"
    assert locate_state_dir({}, tmp_path / "project", tmp_path / "home") == tmp_path / "project" / ".agentpipe"


def test_a_file_named_agentpipe_is_not_a_state_folder(tmp_path):
    (tmp_path / ".agentpipe").write_text("not a folder")
    assert locate_state_dir({}, tmp_path, tmp_path / "home") == tmp_path / "home" / ".local" / "state" / "agentpipe"


def test_without_a_folder_the_users_state_folder(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    assert locate_state_dir({}, work, tmp_path / "home") == tmp_path / "home" / ".local" / "state" / "agentpipe"
    xdg = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert locate_state_dir(xdg, work, tmp_path / "home") == tmp_path / "xdg" / "agentpipe"


@pytest.fixture
def state_dir_without_key(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTPIPE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("AGENTPIPE_APPROVAL_KEY", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_a_key_written_after_the_settings_were_loaded_is_used(state_dir_without_key):
    assert get_settings().approval_secret is None  # loaded (and cached) before `up` writes the key
    assert approval_secret() is None
    key_file = state_dir_without_key / "approval.key"
    key_file.write_text("505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063\n")
    key_file.chmod(0o644)  # as a plain write with the usual umask leaves it
    with pytest.raises(InvalidInput, match=r"open to other users \(mode 0644\); run `chmod 600 "):
        approval_secret()
    key_file.chmod(0o600)
    assert approval_secret() == b"505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063"
    key_file.write_text("a-passphrase-someone-could-guess\n")
    with pytest.raises(InvalidInput, match="must be at least 32 random bytes"):
        approval_secret()


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_approve_and_reject_refuse_without_a_key(tmp_path, command):
    env = {"AGENTPIPE_STATE_DIR": str(tmp_path), "AGENTPIPE_APPROVAL_KEY": ""}
    proc = agentpipe(command, "approval-anything", env=env)
    assert proc.returncode == 2, proc.stderr
    line = one_line_error(proc)
    assert "AGENTPIPE_APPROVAL_KEY" in line and str(Path(tmp_path) / "approval.key") in line
