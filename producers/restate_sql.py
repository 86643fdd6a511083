"""Restate's admin API: SQL introspection queries, and its errors as one-line client errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from agentpipe.settings import get_settings
from producers.errors import Unreachable, WaitTimeout
from subscriptions.restate_admin import AdminApiError, admin_client, sql_rows


@contextmanager
def admin_errors() -> Iterator[None]:
    """Connection problems and HTTP errors of the admin API as one-line client errors."""
    url = get_settings().restate_admin_url
    try:
        yield
    except httpx.TimeoutException as exc:
        # It answered the connection (or is slow to): a timeout, not an unreachable API.
        raise WaitTimeout(f"Restate admin API at {url} did not answer in time ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise Unreachable(
            f"Restate admin API at {url} is unreachable ({type(exc).__name__}); is the stack up?"
        ) from None
    except AdminApiError as exc:
        raise Unreachable(f"Restate admin API at {url}: {exc}") from None


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def query(sql: str, timeout: float | None = None) -> list[dict[str, Any]]:
    """Rows of a SQL query against Restate's introspection tables: column name -> JSON value."""
    with admin_errors(), admin_client(timeout=timeout or get_settings().client_admin_timeout_s) as client:
        return sql_rows(client, sql)
