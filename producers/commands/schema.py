"""`agentpipe schema`: the contract as an AsyncAPI 3.0 document and JSON Schemas, from the message models."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from producers import asyncapi
from producers.commands.base import Subcommands, add_command
from producers.exit_codes import EXIT_NOT_OK, EXIT_OK
from producers.render import err, out


def say(console: Console, text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def cmd_schema(args: argparse.Namespace) -> int:
    docs: Path = args.docs
    if args.check:
        differences = asyncapi.differences(docs)
        for line in differences:
            say(err, str(docs / line))
        if differences:
            say(err, "run `agentpipe schema` and commit the result")
            return EXIT_NOT_OK
        say(out, f"{docs / asyncapi.ASYNCAPI_FILE} and {docs / asyncapi.SCHEMAS_DIR} are up to date")
    else:
        changed = asyncapi.write(docs)
        for name in changed:
            say(out, f"wrote {docs / name}")
        if not changed:
            say(out, "nothing changed")
    if args.validate:
        report = asyncapi.validate(docs / asyncapi.ASYNCAPI_FILE)
        for d in report["diagnostics"]:
            if d["severity"] != "error":  # errors come with the problems below
                say(err, f"{d['severity']}: {d['code']} at /{'/'.join(d['path'])}: {d['message']}")
        found = asyncapi.problems(report)
        for problem in found:
            say(err, f"error: {problem}")
        if found:
            return EXIT_NOT_OK
        say(
            out,
            f"valid AsyncAPI: {len(report['channels'])} channels, {len(report['operations'])} operations, "
            f"{len(report['examples'])} examples match their schemas",
        )
    return EXIT_OK


def register(sub: Subcommands) -> None:
    p = add_command(
        sub,
        "schema",
        "write the contract as AsyncAPI 3.0 (docs/asyncapi.yaml) and JSON Schemas (docs/schemas/)",
        ["agentpipe schema", "agentpipe schema --check", "agentpipe schema --check --validate"],
        cmd_schema,
        "Generated from the message models with the default settings (topic prefix agent.), whatever the "
        "environment says, so the files are the same everywhere. --check writes nothing and exits 1 naming each "
        "file that differs from what would be generated. --validate runs the official AsyncAPI parser "
        "(@asyncapi/parser, installed with npm on first use) on the document and checks every example against "
        "its schema.",
    )
    p.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    p.add_argument("--validate", action="store_true", help="also validate with the official AsyncAPI parser (npm)")
    p.add_argument(
        "--docs",
        type=Path,
        default=asyncapi.DOCS_DIR,
        metavar="DIR",
        help=f"the folder holding asyncapi.yaml and schemas/ (default {asyncapi.DOCS_DIR})",
    )
