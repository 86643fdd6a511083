"""Retry policies, explicit: Restate's default retries an invocation 70 times and then pauses it.

Bad input never needs an invocation retry: intakes dead-letter it and pattern
handlers turn it into an error result on the first attempt. What is left for
Restate to retry are transient outages (the deployment restarting, a lost
connection); they are retried with backoff up to ``invocation_max_attempts``,
after which the invocation is paused, kept for an operator to resume, never dropped.
"""

from __future__ import annotations

import re
from datetime import timedelta

from restate.retry_policy import InvocationRetryPolicy

from agentpipe.settings import get_settings


def invocation_retry_policy() -> InvocationRetryPolicy:
    return InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        exponentiation_factor=2.0,
        max_interval=timedelta(seconds=30),
        max_attempts=get_settings().invocation_max_attempts,
        on_max_attempts="pause",
    )


# How long a handler that waits for a person (or for another invocation) may sit idle before Restate
# suspends it. A suspended invocation holds nothing in the agent service (no stream, no task), so ten
# thousand waiting reviews cost Restate's storage, not the service's memory, and no invoker slot
# (settings.restate_invoker_limit): while it idles it keeps one, so 10,000 reviews arriving at once
# took 517 s to all wait with 5 s here. It resumes from its journal when the answer arrives; a
# suspension costs a replay of a short journal, never a step run again.
WAITING_INACTIVITY = timedelta(seconds=1)
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> timedelta | None:
    """restate-server's short duration form ("1m", "500ms", "1h 30m", "0"); None when it is not one."""
    total, position = 0.0, 0
    while position < len(text.rstrip()):
        match = _DURATION_PART.match(text, position)
        if not match or match.end() == position:
            return None
        total += float(match[1]) * _UNIT_SECONDS[match[2]]
        position = match.end()
    return timedelta(seconds=total) if position else None


def waiting_inactivity_timeout() -> timedelta:
    """``WAITING_INACTIVITY``, or the server-wide inactivity timeout when that is shorter (0 in always-replay)."""
    server_wide = parse_duration(get_settings().restate_inactivity_timeout)
    return min(WAITING_INACTIVITY, server_wide) if server_wide is not None else WAITING_INACTIVITY
