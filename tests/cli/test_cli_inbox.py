"""`agentpipe inbox` and its accounts from the command line: refusals are one line with an exit code."""

from __future__ import annotations

import json

from tests.cli.cli_run import agentpipe, one_line_error

PASSWORD = "correct horse battery staple"


def env_for(
    tmp_path,
    key: str | None = "505f687cb67caeaefbffe7d55c62962777824fcd698cf20a0288b4958b789063",
    kafka: str = "127.0.0.1:1",
) -> dict[str, str]:
    env = {
        "AGENTPIPE_STATE_DIR": str(tmp_path / "state"),
        "AGENTPIPE_INBOX_REVIEWERS_FILE": str(tmp_path / "reviewers.json"),
        "AGENTPIPE_KAFKA_BOOTSTRAP": kafka,
        "AGENTPIPE_CLIENT_BROKER_TIMEOUT_S": "1",
        "AGENTPIPE_APPROVAL_KEY": key or "",
    }
    return env


def test_accounts_are_added_listed_and_removed(tmp_path):
    env = env_for(tmp_path)
    added = agentpipe("inbox", "add-reviewer", "ada", "--password-stdin", stdin=PASSWORD + "\n", env=env)
    assert added.returncode == 0, added.stderr
    assert "added ada" in added.stderr
    changed = agentpipe("inbox", "add-reviewer", "ada", "--password-stdin", stdin=PASSWORD + "2\n", env=env)
    assert "changed the password of ada" in changed.stderr
    assert agentpipe("inbox", "reviewers", env=env).stdout.split() == ["ada"]
    stored = json.loads((tmp_path / "reviewers.json").read_text())
    assert PASSWORD not in json.dumps(stored) and stored["reviewers"]["ada"].startswith("$argon2id$")
    assert agentpipe("inbox", "remove-reviewer", "ada", env=env).returncode == 0
    missing = agentpipe("inbox", "remove-reviewer", "ada", env=env)
    assert missing.returncode == 5 and "no reviewer named 'ada'" in one_line_error(missing)


def test_bad_names_and_short_passwords_are_refused(tmp_path):
    env = env_for(tmp_path)
    bad = agentpipe("inbox", "add-reviewer", "<b>", "--password-stdin", stdin=PASSWORD + "\n", env=env)
    assert bad.returncode == 2 and "not allowed" in one_line_error(bad)
    short = agentpipe("inbox", "add-reviewer", "ada", "--password-stdin", stdin="short\n", env=env)
    assert short.returncode == 2 and "12 to 1024 characters" in one_line_error(short)
    assert not (tmp_path / "reviewers.json").exists()


def test_the_inbox_will_not_start_without_a_key_reviewers_or_kafka(tmp_path):
    no_key = agentpipe("inbox", "--port", "1", env=env_for(tmp_path, key=None))
    assert no_key.returncode == 2 and "no approval key" in one_line_error(no_key)
    env = env_for(tmp_path)
    nobody = agentpipe("inbox", "--port", "1", env=env)
    assert nobody.returncode == 2 and "add-reviewer" in one_line_error(nobody)
    agentpipe("inbox", "add-reviewer", "ada", "--password-stdin", stdin=PASSWORD + "\n", env=env)
    unreachable = agentpipe("inbox", "--port", "1", env=env, timeout=60)
    assert unreachable.returncode == 3, unreachable.stderr
    assert "could not read Kafka and Restate" in unreachable.stderr.splitlines()[-1]
