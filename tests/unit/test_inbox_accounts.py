"""Reviewer accounts, sessions and the failed sign-in limit of the inbox."""

from __future__ import annotations

import json
import stat

import pytest

from producers.errors import InvalidInput
from producers.inbox.login_limit import LoginLimit
from producers.inbox.reviewers import ReviewerFile
from producers.inbox.sessions import Sessions

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reviewer_file_holds_argon2id_hashes_readable_only_by_its_owner(tmp_path):
    reviewers = ReviewerFile(tmp_path / "state" / "reviewers.json")
    assert reviewers.set_password("alice", PASSWORD) is True
    assert reviewers.set_password("alice", PASSWORD + "!") is False  # a new password, same account
    text = reviewers.path.read_text()
    assert PASSWORD not in text
    assert json.loads(text)["reviewers"]["alice"].startswith("$argon2id$")
    assert stat.S_IMODE(reviewers.path.stat().st_mode) == 0o600
    assert reviewers.verify("alice", PASSWORD + "!")
    assert not reviewers.verify("alice", PASSWORD)
    assert not reviewers.verify("mallory", PASSWORD)
    assert not reviewers.verify("alice", "x" * 5000)


def test_another_process_changing_the_file_is_seen(tmp_path):
    path = tmp_path / "reviewers.json"
    server, cli = ReviewerFile(path), ReviewerFile(path)
    assert server.names() == []
    cli.set_password("bob", PASSWORD)
    assert server.names() == ["bob"] and server.verify("bob", PASSWORD)
    assert cli.remove("bob") and not cli.remove("bob")
    assert server.names() == []


@pytest.mark.parametrize("name", ["", "a b", "-lead", "x" * 65, "<script>", "ada\n"])
def test_names_that_are_refused(tmp_path, name):
    with pytest.raises(InvalidInput):
        ReviewerFile(tmp_path / "r.json").set_password(name, PASSWORD)


def test_short_passwords_are_refused_and_a_broken_file_is_reported(tmp_path):
    with pytest.raises(InvalidInput, match="12"):
        ReviewerFile(tmp_path / "r.json").set_password("ada", "short")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInput, match="not a reviewer file"):
        ReviewerFile(tmp_path / "bad.json").names()


def test_sessions_expire_when_idle_or_old():
    clock = Clock()
    sessions = Sessions(idle_s=60, lifetime_s=300, clock=clock)
    session = sessions.start("ada")
    assert sessions.get(session.token) is session and sessions.signed_in(session.token)
    clock.now += 59
    assert sessions.get(session.token) is session
    clock.now += 61
    assert sessions.get(session.token) is None
    kept = sessions.start("ada")
    for _ in range(7):
        clock.now += 50
        sessions.get(kept.token)
    assert sessions.get(kept.token) is None  # used all along, but older than its lifetime
    assert sessions.get(None) is None and sessions.get("") is None


def test_a_flood_of_anonymous_sessions_does_not_sign_reviewers_out():
    sessions = Sessions(signed_in_limit=10, anonymous_limit=5)
    reviewer = sessions.start("ada")
    for _ in range(100):
        sessions.start()
    assert sessions.signed_in(reviewer.token)


def test_csrf_tokens_compare_exactly():
    session = Sessions().start("ada")
    assert session.csrf_ok(session.csrf)
    for wrong in (None, "", session.csrf[:-1], session.csrf + "x", 42, "é" * 43):
        assert not session.csrf_ok(wrong)
    assert Sessions().start("ada").csrf != session.csrf


def test_failed_sign_ins_close_the_door_per_address_and_per_name():
    clock = Clock()
    limit = LoginLimit(max_failures=5, window_s=900, clock=clock)
    for _ in range(5):
        assert limit.retry_after("10.0.0.1", "ada") == 0
        limit.failed("10.0.0.1", "ada")
    assert 0 < limit.retry_after("10.0.0.1", "ada") <= 900
    assert limit.retry_after("10.0.0.1", "bob") > 0  # same address, another name
    assert limit.retry_after("10.0.0.2", "ada") > 0  # same name, another address
    assert limit.retry_after("10.0.0.2", "bob") == 0
    clock.now += 901
    assert limit.retry_after("10.0.0.1", "ada") == 0


def test_the_limit_table_is_bounded():
    limit = LoginLimit(table_limit=100)
    for n in range(1000):
        limit.failed(f"10.0.{n // 256}.{n % 256}", f"name-{n}")
    assert len(limit._failures) <= 100
