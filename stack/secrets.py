"""The stack's own secrets: the approval key and restate-server's request-identity key pair.

Both are made once per state folder by ``agentpipe up`` and written atomically
with mode 0600, so a reader never sees half a key and no other user reads it.
The identity key pair lets the deployments refuse anyone but restate-server:
the server signs each request with the private key
(``request-identity-private-key-pem-file``), the apps verify with the public key
(``restate.app(identity_keys=[...])``), in Restate's ``publickeyv1_<base58>`` form.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentpipe.settings import approval_key_file_problem, secret_file_problem
from stack.errors import StackError

APPROVAL_KEY_FILE = "approval.key"
IDENTITY_PRIVATE_FILE = "request-identity.pem"
IDENTITY_PUBLIC_FILE = "request-identity.pub"

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def write_secret_file(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` atomically, readable by its owner only."""
    data = content.encode() if isinstance(content, str) else content
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_approval_key(state_dir: Path) -> str:
    """The stack's approval key, made on first use."""
    key_file = state_dir / APPROVAL_KEY_FILE
    if not key_file.exists() or not key_file.read_text().strip():
        write_secret_file(key_file, secrets.token_hex(32))
    key = key_file.read_text().strip()
    problem = approval_key_file_problem(key_file, key)
    if problem:
        raise StackError("approval key", problem)
    return key


def base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _BASE58[digit] + text
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + text


def public_identity_key(private_pem: bytes) -> str:
    """Restate's public form of an ed25519 private key: ``publickeyv1_<base58 of the raw public key>``."""
    private = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError("the request-identity key must be an ed25519 key")
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"publickeyv1_{base58(raw)}"


def ensure_identity_keys(state_dir: Path) -> tuple[Path, str]:
    """The private key file restate-server signs with, and the public key the apps accept."""
    private_file = state_dir / IDENTITY_PRIVATE_FILE
    problem = secret_file_problem(private_file)
    if problem:
        raise StackError("request identity key", problem)
    if not private_file.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_secret_file(private_file, pem)
    public = public_identity_key(private_file.read_bytes())
    public_file = state_dir / IDENTITY_PUBLIC_FILE
    if not public_file.exists() or public_file.read_text().strip() != public:
        write_secret_file(public_file, public + "\n")
    return private_file, public


def main() -> int:
    """``python -m stack.secrets``: make the keys in AGENTPIPE_STATE_DIR (compose's `keys` one-shot)."""
    from agentpipe.settings import get_settings

    state_dir = get_settings().state_dir
    _, public = ensure_identity_keys(state_dir)
    print(f"request identity: {public}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
