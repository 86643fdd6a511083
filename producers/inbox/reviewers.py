"""Reviewer accounts: a JSON file of names and argon2id password hashes.

The file is written with mode 0600 and replaced atomically; the server reads it again when
it changes, so `agentpipe inbox add-reviewer` and `remove-reviewer` take effect without a
restart. A sign-in for an unknown name still verifies against a hash, so the answer takes
as long as for a known name with a wrong password.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from producers.errors import InvalidInput

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # fullmatch: "$" would let a final newline in
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
FILE_VERSION = 1

_hasher = PasswordHasher()  # argon2id with the library's current defaults


@functools.cache
def unknown_name_hash() -> str:
    """What an unknown name is checked against; made on first use (an argon2 hash takes a quarter of a
    second, which every `agentpipe` command paid at import)."""
    return _hasher.hash("agentpipe: no such reviewer")


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"reviewer name {name!r} is not allowed: 1-64 characters, letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return password


class ReviewerFile:
    def __init__(self, path: Path):
        self.path = path
        self._cache: dict[str, str] = {}
        self._stamp: tuple[int, int] | None = None

    def _read(self) -> dict[str, str]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._cache, self._stamp = {}, None
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text())
                reviewers = data["reviewers"]
                if not isinstance(reviewers, dict):
                    raise TypeError("reviewers is not an object")
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidInput(f"{self.path} is not a reviewer file ({exc}); remove it and add reviewers") from None
            self._cache = {str(k): str(v) for k, v in reviewers.items()}
            self._stamp = stamp
        return self._cache

    def names(self) -> list[str]:
        return sorted(self._read())

    def _write(self, reviewers: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"version": FILE_VERSION, "reviewers": reviewers}, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(temporary, self.path)

    def set_password(self, name: str, password: str) -> bool:
        """Adds the reviewer or changes their password; True when the name is new."""
        reviewers = dict(self._read())
        new = check_name(name) not in reviewers
        reviewers[name] = _hasher.hash(check_password(password))
        self._write(reviewers)
        return new

    def remove(self, name: str) -> bool:
        reviewers = dict(self._read())
        if reviewers.pop(name, None) is None:
            return False
        self._write(reviewers)
        return True

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s; slow on purpose (argon2), whatever the answer."""
        if len(password) > MAX_PASSWORD_CHARS:
            return False
        stored = self._read().get(name)
        try:
            return _hasher.verify(stored or unknown_name_hash(), password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
