"""The arithmetic of a provider budget, apart from Restate so it can be tested alone.

Two token buckets (requests and tokens per second, each holding ``burst_s`` of its rate),
a cap on calls in flight, and a pause after a 429. The rates are the configured limits
and the limits the provider states in its headers, whichever is lower, paced at
``HEADROOM`` of it: calls granted exactly at a provider's rate reach it a little bunched,
and a provider bucket with no slack answers the bunched ones 429. A provider that states
no limit gets a rate probed from its 429s: halved at each, raised a tenth per quiet 10 s.

A permit may cover several calls (a request that will make three asks for three at once,
so it does not wait between them); what it does not use is given back when it ends.

Every function takes ``now`` (epoch seconds, journaled by the caller) and changes the
state it is given; nothing here reads a clock.
"""

from __future__ import annotations

from agentpipe.flow import STATED_FOR_S, Bucket, BudgetState
from handlers.provider_signals import ProviderSignals

HEADROOM = 0.97
# A 429 without retry-after pauses the budget this long.
DEFAULT_PAUSE_S = 1.0
PROBE_FLOOR_PER_S = 0.1
PROBE_STEP_S = 5.0
PROBE_RAISE = 1.5
PROBE_MIN_CALLS = 10


def rates(state: BudgetState) -> tuple[float | None, float | None]:
    """Requests and tokens per second to pace at; None: not limited that way."""

    def lowest(*per_minute: float | None) -> float | None:
        known = [value for value in per_minute if value]
        return min(known) / 60 * HEADROOM if known else None

    requests = lowest(state.limits.requests_per_minute, state.learned.requests_per_minute)
    if requests is None and state.learned.probed_per_s is not None:
        requests = state.learned.probed_per_s
    tokens = lowest(state.limits.tokens_per_minute, state.learned.tokens_per_minute)
    return requests, tokens


# The budget's buckets hold this share of the provider's burst; the rest is for calls granted before
# a stall and made after it (a restart, a slow resume), which land on top of what the budget grants
# next. Seen: after the agent service restarted, a full bucket's grants plus those granted just
# before the kill reached the provider within 0.15 s, and 5-9 of them were answered 429.
BURST_SHARE = 0.5


def _capacity(rate: float, burst_s: float) -> float:
    return max(1.0, rate * burst_s * BURST_SHARE)


def _clamp(state: BudgetState) -> None:
    """No bucket holds more than its capacity (a refund cannot make a burst)."""
    request_rate, token_rate = rates(state)
    for bucket, rate in ((state.requests, request_rate), (state.tokens, token_rate)):
        if rate is not None:
            bucket.level = min(bucket.level, _capacity(rate, state.limits.burst_s))


def refill(state: BudgetState, now: float) -> None:
    """Bring both buckets to ``now`` (full the first time: a provider starts with a whole burst)."""
    learned = state.learned
    if learned.stated_at and now - learned.stated_at > STATED_FOR_S:
        # The provider stopped stating its limits (raised, or gone): pace by what is configured.
        learned.requests_per_minute = learned.tokens_per_minute = None
        learned.stated_at = 0.0
    request_rate, token_rate = rates(state)
    for bucket, rate in ((state.requests, request_rate), (state.tokens, token_rate)):
        if rate is None:
            bucket.at = now  # a rate that appears later counts from now, not from the epoch
            continue
        capacity = _capacity(rate, state.limits.burst_s)
        if not state.started:
            bucket.level, bucket.at = capacity, now
        bucket.level = min(capacity, bucket.level + max(0.0, now - bucket.at) * rate)
        bucket.at = now
    state.started = True
    # Leases whose holder never reported (a killed invocation) lapse.
    for lease, lapses in list(state.in_flight.items()):
        if lapses <= now:
            del state.in_flight[lease]


def _short_by(bucket: Bucket, want: float, rate: float | None, burst_s: float) -> float:
    if rate is None:
        return 0.0
    want = min(want, _capacity(rate, burst_s))  # more than the bucket holds waits for a full one
    return max(0.0, (want - bucket.level) / rate)


def wait_s(state: BudgetState, now: float, tokens: int, calls: int = 1) -> float | None:
    """Seconds until ``calls`` calls of ``tokens`` in all may start (0: now); None when only a release
    of a call in flight can make room (``next_lapse`` says when one lapses on its own)."""
    if state.limits.max_in_flight is not None and len(state.in_flight) >= state.limits.max_in_flight:
        return None
    request_rate, token_rate = rates(state)
    return max(
        state.paused_until - now,
        _short_by(state.requests, float(calls), request_rate, state.limits.burst_s),
        _short_by(state.tokens, float(tokens), token_rate, state.limits.burst_s),
        0.0,
    )


def next_lapse(state: BudgetState) -> float | None:
    """When the first lease in flight lapses unreported (then a waiter blocked by the cap can go)."""
    return min(state.in_flight.values(), default=None)


def take(state: BudgetState, now: float, tokens: int, key: str, lease_s: float, calls: int = 1) -> str:
    """Spend ``calls`` calls of ``tokens`` in all; returns the lease the caller reports back with."""
    request_rate, token_rate = rates(state)
    # Charged in full: a permit bigger than the bucket waited for a full one and leaves it in debt,
    # which the next asks wait out (charging it only a bucket let three-call permits of a slow
    # model reach it at three times its rate).
    if request_rate is not None:
        state.requests.level -= float(calls)
    if token_rate is not None:
        state.tokens.level -= float(tokens)
    lease = f"{key}#{state.next_lease}"
    state.next_lease += 1
    if state.limits.max_in_flight is not None:
        state.in_flight[lease] = now + lease_s
    state.granted += calls
    learned = state.learned
    if now - learned.window_at > PROBE_STEP_S:
        learned.window_at, learned.window_granted = now, 0
    learned.window_granted += calls
    if learned.probed_per_s is not None and now - learned.probed_at >= PROBE_STEP_S:
        learned.probed_per_s *= PROBE_RAISE
        learned.probed_at = now
    return lease


def release(
    state: BudgetState, lease: str | None, tokens_used: int, tokens_estimated: int, unused_calls: int = 0
) -> None:
    """Calls ended: free the lease, charge what they really cost against what was estimated, and
    give back the calls a permit covered that were not made."""
    if lease is not None:
        state.in_flight.pop(lease, None)
    request_rate, token_rate = rates(state)
    if request_rate is not None and unused_calls:
        state.requests.level += unused_calls
    if token_rate is not None and (tokens_used or tokens_estimated):
        state.tokens.level -= tokens_used - tokens_estimated
    _clamp(state)


def learn(state: BudgetState, now: float, signals: ProviderSignals | None, rate_limited: bool) -> None:
    """Take in what an answer said: stated limits, and after a 429 a pause and an empty request bucket."""
    if signals is not None:
        if signals.limit_requests:
            state.learned.requests_per_minute = signals.limit_requests
            state.learned.probed_per_s = None
        if signals.limit_tokens:
            state.learned.tokens_per_minute = signals.limit_tokens
        if signals.limit_requests or signals.limit_tokens:
            state.learned.stated_at = now
    if not rate_limited:
        return
    state.rate_limited += 1
    pause = signals.retry_after_s if signals is not None and signals.retry_after_s is not None else None
    state.paused_until = max(state.paused_until, now + (pause if pause is not None else DEFAULT_PAUSE_S))
    request_rate, _ = rates(state)
    configured_or_stated = state.limits.requests_per_minute or state.learned.requests_per_minute
    learned = state.learned
    recent = learned.window_granted if now - learned.window_at <= PROBE_STEP_S else 0
    if not configured_or_stated and (request_rate is not None or recent >= PROBE_MIN_CALLS):
        # Nothing says how fast: probe, from half the rate that met the 429. A 429 after a few calls
        # says nothing of a rate (one burst, a provider's hiccup): it only pauses the budget.
        observed = recent / max(1.0, now - learned.window_at)
        current = request_rate if request_rate is not None else observed
        learned.probed_per_s = max(PROBE_FLOOR_PER_S, current / 2)
        learned.probed_at = now
    # No burst right after the pause: the bucket starts empty, counted from now.
    state.requests.level, state.requests.at = min(state.requests.level, 0.0), now
