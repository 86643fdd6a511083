"""The exit codes of the `agentpipe` command line, and which error ends in which.

Scripts can rely on these codes:

    0  ok
    1  a request ended with a status other than ok, or there was nothing to do
       (cancel of a finished request, approval already decided)
    2  usage or input error (unknown pattern, invalid JSON, bad option)
    3  the stack is unreachable (Kafka broker, Restate admin API) or failed
    4  timed out waiting (results, cancellation)
    5  not found (request id, approval id, topic)
  130  interrupted (Ctrl-C)

The client library (producers.errors) and the stack (stack.errors) raise plain
errors; only the command line turns them into these codes.
"""

from __future__ import annotations

from producers.errors import ClientError, InvalidInput, NotFound, NotOk, Unreachable, WaitTimeout
from stack.errors import StackError

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

# An error's code is the one of its nearest class in this table.
EXIT_CODE_OF: dict[type[Exception], int] = {
    ClientError: EXIT_NOT_OK,
    NotOk: EXIT_NOT_OK,
    InvalidInput: EXIT_USAGE,
    Unreachable: EXIT_UNREACHABLE,
    StackError: EXIT_UNREACHABLE,  # the local stack could not be started, or failed
    WaitTimeout: EXIT_TIMEOUT,
    NotFound: EXIT_NOT_FOUND,
}


def exit_code_for(error: BaseException) -> int:
    """The exit code the command line ends with after reporting ``error``; 1 for an error not in the table."""
    for cls in type(error).__mro__:
        code = EXIT_CODE_OF.get(cls)
        if code is not None:
            return code
    return EXIT_NOT_OK
