"""Retry policies, explicit: Restate's default retries an invocation 70 times and then pauses it.

Bad input never needs an invocation retry: intakes dead-letter it and pattern
handlers turn it into an error result on the first attempt. What is left for
Restate to retry are transient outages (the deployment restarting, a lost
connection); they are retried with backoff up to ``invocation_max_attempts``,
after which the invocation is paused, kept for an operator to resume, never dropped.
"""

from __future__ import annotations

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
