"""Errors of the client library: each carries a one-line message a person can act on.

They say what went wrong, not what a program should do about it: the command
line maps them to its exit codes (producers/exit_codes.py), a script using the
library catches the ones it cares about (``ClientError`` catches them all).
"""

from __future__ import annotations


class ClientError(Exception):
    """A one-line message a person can act on."""


class NotOk(ClientError):
    """The request or action ended, but not with ok: a non-ok status, or nothing to do
    (cancel of a finished request, an approval already decided)."""


class InvalidInput(ClientError):
    """What the caller gave cannot be used: an unknown pattern, invalid JSON, a missing key or option."""


class Unreachable(ClientError):
    """The Kafka broker or Restate's admin API did not answer, or refused what was sent."""


class WaitTimeout(ClientError):
    """What was waited for (results, a cancellation, a read making progress) did not happen in time."""


class NotFound(ClientError):
    """No such request id, approval id or topic."""
