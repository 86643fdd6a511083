"""The `agentpipe` command line; each command lives in producers/commands/ over the client library."""

from __future__ import annotations

import argparse
import os
import sys

from producers.commands import (
    approvals,
    bench,
    cluster,
    compare,
    demo,
    inbox,
    invocations,
    replay,
    requests,
    schema,
    stack,
    subscriptions,
    usage,
)
from producers.commands.base import Parser
from producers.errors import ClientError
from producers.exit_codes import EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_NOT_OK, exit_code_for
from producers.state_location import RULE_HELP, use_located_state_dir
from stack.errors import StackError

COMMANDS = (
    stack,
    demo,
    requests,
    approvals,
    inbox,
    replay,
    compare,
    invocations,
    usage,
    subscriptions,
    cluster,
    bench,
    schema,
)


def build_parser() -> Parser:
    parser = Parser(
        prog="agentpipe",
        description="Durable LLM agents fed by Kafka topics: run the local stack, send requests, read results, "
        "decide approvals, replay topics and compare what changed, inspect and cancel requests.",
        epilog=f"examples:\n  agentpipe demo\n  agentpipe send chaining --wait\n\n{RULE_HELP}\n\n{EXIT_CODES_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def fail(message: str, code: int) -> int:
    print(f"agentpipe: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        use_located_state_dir()
        return args.func(args)
    except (ClientError, StackError) as exc:
        return fail(str(exc), exit_code_for(exc))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (head, jq) went away: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug or a surprise still ends in one line, not a traceback
        if os.environ.get("AGENTPIPE_DEBUG"):
            raise
        return fail(f"unexpected {type(exc).__name__}: {exc} (AGENTPIPE_DEBUG=1 shows the traceback)", EXIT_NOT_OK)


if __name__ == "__main__":
    sys.exit(main())
