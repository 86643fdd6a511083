"""The key approval events are signed with, read when a decision is signed.

Not from the cached settings alone: `agentpipe demo` may load the settings
before `agentpipe up` has written the key, and an unsigned decision is
dead-lettered by a stack that has one.
"""

from __future__ import annotations

from agentpipe.settings import approval_key_file_problem, get_settings
from producers.errors import InvalidInput

KEY_FILE = "approval.key"


def approval_secret() -> bytes | None:
    settings = get_settings()
    if settings.approval_secret is not None:
        return settings.approval_secret
    key_file = settings.state_dir / KEY_FILE
    try:
        key = key_file.read_text().strip()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    if not key:
        return None
    problem = approval_key_file_problem(key_file, key)
    if problem:
        raise InvalidInput(problem)
    return key.encode()


def require_approval_secret() -> bytes:
    secret = approval_secret()
    if secret is None:
        raise InvalidInput(
            f"no approval key: set AGENTPIPE_APPROVAL_KEY, or use the stack whose `agentpipe up` wrote "
            f"{(get_settings().state_dir / KEY_FILE).resolve()} (see agentpipe --help for the state folder rule)"
        )
    return secret
