"""Errors of the local stack: a one-line cause a person can act on, naming the component it concerns."""

from __future__ import annotations

from pathlib import Path


class StackError(Exception):
    """A one-line cause a person can act on, with the component it concerns."""

    def __init__(self, component: str, cause: str, log_file: Path | None = None):
        self.component, self.cause, self.log_file = component, cause, log_file
        where = f" (log: {log_file})" if log_file else ""
        super().__init__(f"{component}: {cause}{where}")


class InitError(StackError):
    """A step of ``stack.init`` kept failing until the deadline; a StackError, so callers such as `up`
    report it as one line."""
