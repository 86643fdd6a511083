"""Who is signed in: server-side sessions named by a random cookie, each with its CSRF token.

A visitor who opens the sign-in page gets an anonymous session (only a CSRF token for the
sign-in form); signing in replaces it with a new one, so a token planted before sign-in is
worth nothing after. Anonymous sessions are capped apart from signed-in ones, so a flood of
sign-in page views cannot push reviewers out. Sessions live in memory: a restart signs
everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "agentpipe_inbox"


@dataclass
class Session:
    token: str
    csrf: str
    reviewer: str | None
    created: float
    seen: float
    flash: list[tuple[str, str]] = field(default_factory=list)  # (kind, text) shown once

    def csrf_ok(self, token: object) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    def __init__(
        self,
        idle_s: float = 8 * 3600,
        lifetime_s: float = 24 * 3600,
        signed_in_limit: int = 10_000,
        anonymous_limit: int = 2_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.idle_s, self.lifetime_s, self.clock = idle_s, lifetime_s, clock
        self._limits = {True: signed_in_limit, False: anonymous_limit}
        self._by_kind: dict[bool, OrderedDict[str, Session]] = {True: OrderedDict(), False: OrderedDict()}

    def _store(self, session: Session) -> Session:
        kind = self._by_kind[session.reviewer is not None]
        kind[session.token] = session
        while len(kind) > self._limits[session.reviewer is not None]:
            kind.popitem(last=False)  # the longest unused goes first
        return session

    def start(self, reviewer: str | None = None) -> Session:
        now = self.clock()
        return self._store(Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), reviewer, now, now))

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        for kind in self._by_kind.values():
            session = kind.get(token)
            if session is None:
                continue
            now = self.clock()
            if now - session.seen > self.idle_s or now - session.created > self.lifetime_s:
                del kind[token]
                return None
            session.seen = now
            kind.move_to_end(token)
            return session
        return None

    def end(self, token: str | None) -> None:
        for kind in self._by_kind.values():
            kind.pop(token or "", None)

    def signed_in(self, token: str | None) -> bool:
        session = self.get(token)
        return session is not None and session.reviewer is not None
