"""Errors of the client and the exit codes the CLI maps them to.

Scripts can rely on these codes:

    0  ok
    1  a request ended with a status other than ok, or there was nothing to do
       (cancel of a finished request, approval already decided)
    2  usage or input error (unknown pattern, invalid JSON, bad option)
    3  the stack is unreachable (Kafka broker, Restate admin API) or failed
    4  timed out waiting (results, cancellation)
    5  not found (request id, approval id, topic)
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_OK = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4
EXIT_NOT_FOUND = 5
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "exit codes: 0 ok, 1 a request ended non-ok (or nothing to do), 2 usage/input error, "
    "3 stack unreachable, 4 timeout, 5 not found, 130 interrupted"
)


class ClientError(Exception):
    """A one-line message a person can act on, and the exit code it maps to."""

    exit_code = EXIT_NOT_OK


class NotOk(ClientError):
    exit_code = EXIT_NOT_OK


class UsageError(ClientError):
    exit_code = EXIT_USAGE


class Unreachable(ClientError):
    exit_code = EXIT_UNREACHABLE


class WaitTimeout(ClientError):
    exit_code = EXIT_TIMEOUT


class NotFound(ClientError):
    exit_code = EXIT_NOT_FOUND
