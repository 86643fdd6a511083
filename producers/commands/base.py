"""What every command shares: a parser with one-line errors, help with examples, argument types."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias, TypeVar

from agentpipe.patterns import PATTERNS
from producers.exit_codes import EXIT_CODES_HELP, EXIT_USAGE
from producers.shapes import SkipCount


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (and exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Where a command module registers its commands: the parser's subcommands (argparse's class is private).
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"


def add_command(
    sub: Subcommands,
    name: str,
    summary: str,
    examples: Sequence[str],
    func: Callable[[argparse.Namespace], int] | None,
    details: str = "",
) -> Parser:
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) + f"\n\n{EXIT_CODES_HELP}"
    description = f"{summary}\n\n{textwrap.fill(details, 100)}".strip()
    parser = sub.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def pattern_arg(text: str) -> str:
    if text not in PATTERNS:
        raise argparse.ArgumentTypeError(f"unknown pattern {text!r}; choose from: {', '.join(PATTERNS)}")
    return text


Number = TypeVar("Number", int, float)


def _positive(convert: Callable[[str], Number], what: str) -> Callable[[str], Number]:
    def parse(text: str) -> Number:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse


positive_float = _positive(float, "a number")
positive_int = _positive(int, "a whole number")


def add_timeout(parser: argparse.ArgumentParser, default: float, what: str = "results") -> None:
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=default,
        metavar="SECONDS",
        help=f"how long to wait for {what} (default {default:.0f}); exit code 4 when it runs out",
    )


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="also say how many records were skipped because of their shape"
    )


def report_skipped(args: argparse.Namespace, skipped: SkipCount, what: str = "records") -> None:
    """With --verbose, one line on stderr: how many malformed records were skipped."""
    if getattr(args, "verbose", False):
        from producers.render import err

        err.print(f"skipped {skipped.count} malformed {what}", highlight=False)
