"""Transitional: tests/cli/test_cli_errors.py still imports ``cli_run`` as a top-level module.

Since tests/ is a package, the helper is ``tests.cli.cli_run``; this alias keeps that one file
collecting until it imports ``from tests.cli.cli_run import ...``. Remove this file then.
"""

import sys

from tests.cli import cli_run

sys.modules.setdefault("cli_run", cli_run)
