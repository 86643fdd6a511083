"""The arithmetic of a provider budget (handlers/budget_policy.py) on its state (agentpipe/flow.py).

Two token buckets paced at HEADROOM of the lower of the configured and the stated limits (or a
probed rate when nothing states one), a cap on calls in flight with leases that lapse, and a pause
after a 429. Every function takes ``now``; the tests pass it, and the last ones drive a budget
with a simulated clock for a minute to check the rate and the cap it keeps.
"""

from __future__ import annotations

import heapq

import pytest
from pydantic import ValidationError

from agentpipe.flow import STATED_FOR_S, BudgetLimits, BudgetState, Learned
from handlers import budget_policy as policy
from handlers.budget_policy import (
    BURST_SHARE,
    DEFAULT_PAUSE_S,
    HEADROOM,
    PROBE_FLOOR_PER_S,
    PROBE_MIN_CALLS,
    PROBE_RAISE,
    PROBE_STEP_S,
)
from handlers.provider_signals import ProviderSignals

# 600 requests and 60,000 tokens a minute, paced at the headroom: per second, and what a full bucket
# holds with burst_s 1 (its share of the provider's burst).
R = 10 * HEADROOM
T = 1000 * HEADROOM
RB = R * BURST_SHARE
TB = T * BURST_SHARE

T0 = 1_700_000_000.0  # epoch seconds, as the budget is given them


def budget(**limits: float | int | None) -> BudgetState:
    return BudgetState(limits=BudgetLimits(**limits))


def started(now: float = T0, **limits: float | int | None) -> BudgetState:
    """A budget whose buckets were filled at ``now``."""
    state = budget(**limits)
    policy.refill(state, now)
    return state


def grant(state: BudgetState, now: float, tokens: int = 0, lease_s: float = 60.0) -> str:
    """Take a permit the way the budget object does: only when wait_s says now."""
    policy.refill(state, now)
    assert policy.wait_s(state, now, tokens) == 0
    return policy.take(state, now, tokens, "k", lease_s)


def granted_at_once(state: BudgetState, now: float, tokens: int = 0, most: int = 10_000) -> int:
    count = 0
    policy.refill(state, now)
    while count < most and policy.wait_s(state, now, tokens) == 0:
        policy.take(state, now, tokens, "k", 60.0)
        count += 1
    return count


# -- the state model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limits",
    [
        {"requests_per_minute": 0},
        {"requests_per_minute": -1},
        {"tokens_per_minute": 0},
        {"requests_per_minute": float("inf")},
        {"tokens_per_minute": float("inf")},
        {"requests_per_minute": float("nan")},
        {"max_in_flight": 0},
        {"burst_s": 0},
        {"burst_s": 61},
    ],
)
def test_budget_limits_refuse_values_that_mean_nothing(limits: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        BudgetLimits(**limits)


def test_budget_limits_are_limited_by_any_one_of_them() -> None:
    assert not BudgetLimits().limited
    assert not BudgetLimits(burst_s=5).limited
    assert BudgetLimits(requests_per_minute=60).limited
    assert BudgetLimits(tokens_per_minute=60).limited
    assert BudgetLimits(max_in_flight=1).limited


def test_a_budget_state_survives_a_json_round_trip() -> None:
    state = started(requests_per_minute=600, tokens_per_minute=6000, max_in_flight=2)
    grant(state, T0, tokens=10)
    assert BudgetState.model_validate_json(state.model_dump_json()) == state
    assert state.waiting() == 0


# -- rates -----------------------------------------------------------------------------------------------


def test_nothing_configured_or_stated_paces_nothing() -> None:
    assert policy.rates(budget()) == (None, None)
    assert policy.rates(budget(max_in_flight=3)) == (None, None)


def test_configured_limits_are_paced_at_headroom_per_second() -> None:
    assert HEADROOM == 0.97
    requests, tokens = policy.rates(budget(requests_per_minute=600, tokens_per_minute=60_000))
    assert requests == pytest.approx(R)
    assert tokens == pytest.approx(T)


@pytest.mark.parametrize(
    "configured, stated, per_minute",
    [
        (600, 300, 300),  # the provider says less: believe it
        (300, 600, 300),  # the provider allows more: stay within what is configured
        (None, 300, 300),
        (600, None, 600),
    ],
)
def test_the_lower_of_configured_and_stated_limits_wins(
    configured: float | None, stated: float | None, per_minute: float
) -> None:
    state = budget(requests_per_minute=configured, tokens_per_minute=configured)
    state.learned = Learned(requests_per_minute=stated, tokens_per_minute=stated, stated_at=T0)
    assert policy.rates(state) == pytest.approx((per_minute / 60 * HEADROOM, per_minute / 60 * HEADROOM))


def test_a_probed_rate_paces_requests_only_when_nothing_says_how_fast() -> None:
    state = budget()
    state.learned.probed_per_s = 3.0
    assert policy.rates(state) == (3.0, None)  # the probe is a rate of our own: no headroom on it
    state.limits = BudgetLimits(requests_per_minute=60)
    assert policy.rates(state) == (pytest.approx(HEADROOM), None)


# -- refill ----------------------------------------------------------------------------------------------


def test_the_first_refill_fills_both_buckets() -> None:
    state = started(requests_per_minute=600, tokens_per_minute=60_000)
    assert state.started
    assert state.requests.level == pytest.approx(RB)  # burst_s 1: its share of a second's worth
    assert state.tokens.level == pytest.approx(TB)
    assert state.requests.at == state.tokens.at == T0


@pytest.mark.parametrize(
    "limits, level",
    [
        ({"requests_per_minute": 600, "burst_s": 4}, 4 * RB),
        ({"requests_per_minute": 600, "burst_s": 0.5}, RB / 2),
        ({"requests_per_minute": 6}, 1.0),  # never less than one call
    ],
)
def test_burst_s_sizes_a_bucket_but_never_below_one_call(limits: dict[str, float], level: float) -> None:
    assert started(**limits).requests.level == pytest.approx(level)


def test_buckets_fill_at_their_rate_up_to_a_burst() -> None:
    state = started(requests_per_minute=600)  # 9.7/s, holds 4.85
    state.requests.level = 0.0
    policy.refill(state, T0 + 0.25)
    assert state.requests.level == pytest.approx(R / 4)
    policy.refill(state, T0 + 3600)
    assert state.requests.level == pytest.approx(RB)


def test_a_clock_that_steps_back_takes_nothing_from_a_bucket() -> None:
    state = started(requests_per_minute=600)
    state.requests.level = 2.0
    policy.refill(state, T0 - 5)
    assert state.requests.level == 2.0


def test_a_later_refill_does_not_fill_the_buckets_again() -> None:
    state = started(requests_per_minute=600)
    grant(state, T0)
    policy.refill(state, T0)
    assert state.requests.level == pytest.approx(RB - 1)


def test_a_lease_lapses_when_its_holder_never_reports() -> None:
    state = started(max_in_flight=2)
    kept = grant(state, T0, lease_s=30.0)
    lapsing = grant(state, T0, lease_s=10.0)
    assert state.in_flight == {kept: T0 + 30.0, lapsing: T0 + 10.0}
    policy.refill(state, T0 + 9.999)
    assert set(state.in_flight) == {kept, lapsing}
    policy.refill(state, T0 + 10.0)
    assert set(state.in_flight) == {kept}


def test_stated_limits_are_forgotten_when_the_provider_stops_stating_them() -> None:
    state = started(requests_per_minute=600)
    policy.learn(state, T0, ProviderSignals(limit_requests=60, limit_tokens=1000), rate_limited=False)
    assert policy.rates(state) == pytest.approx((HEADROOM, 1000 / 60 * HEADROOM))
    policy.refill(state, T0 + STATED_FOR_S)
    assert state.learned.requests_per_minute == 60  # still within STATED_FOR_S
    policy.refill(state, T0 + STATED_FOR_S + 0.001)
    assert (state.learned.requests_per_minute, state.learned.tokens_per_minute, state.learned.stated_at) == (
        None,
        None,
        0.0,
    )
    assert policy.rates(state) == (pytest.approx(R), None)  # the configured pace again


def test_a_provider_that_keeps_stating_its_limits_is_kept_believing() -> None:
    state = started()
    for minutes in range(0, 60, 5):
        now = T0 + minutes * 60
        policy.refill(state, now)
        policy.learn(state, now, ProviderSignals(limit_requests=60), rate_limited=False)
    policy.refill(state, T0 + 3600)
    assert state.learned.requests_per_minute == 60


# -- wait_s ----------------------------------------------------------------------------------------------


def test_an_unlimited_budget_never_waits() -> None:
    state = started()
    assert all(policy.wait_s(state, T0, 10**9) == 0 for _ in range(3))
    assert granted_at_once(state, T0, most=500) == 500


def test_a_budget_with_room_says_now() -> None:
    assert policy.wait_s(started(requests_per_minute=600, tokens_per_minute=60_000), T0, 100) == 0


def test_a_short_request_bucket_says_how_long_until_a_call_is_there() -> None:
    state = started(requests_per_minute=600)
    state.requests.level = 0.5
    assert policy.wait_s(state, T0, 0) == pytest.approx(0.5 / R)


def test_a_short_token_bucket_says_how_long_until_the_tokens_are_there() -> None:
    state = started(tokens_per_minute=60_000)  # 950/s
    state.tokens.level = 50.0
    assert policy.wait_s(state, T0, 240) == pytest.approx(190 / T)


def test_a_call_bigger_than_the_token_bucket_waits_only_for_a_full_one() -> None:
    state = started(tokens_per_minute=60_000)
    assert policy.wait_s(state, T0, 5000) == 0
    state.tokens.level = 0.0
    assert policy.wait_s(state, T0, 5000) == pytest.approx(BURST_SHARE)


def test_the_longest_reason_to_wait_counts() -> None:
    state = started(requests_per_minute=600, tokens_per_minute=60_000)
    state.requests.level, state.tokens.level = 0.0, 0.0
    state.paused_until = T0 + 0.05
    assert policy.wait_s(state, T0, round(T / 2)) == pytest.approx(round(T / 2) / T)  # tokens: half a second's
    state.paused_until = T0 + 2.0
    assert policy.wait_s(state, T0, round(T / 2)) == pytest.approx(2.0)


def test_a_pause_holds_calls_back_until_it_ends() -> None:
    state = started()
    state.paused_until = T0 + 3.0
    assert policy.wait_s(state, T0, 0) == pytest.approx(3.0)
    assert policy.wait_s(state, T0 + 2.5, 0) == pytest.approx(0.5)
    assert policy.wait_s(state, T0 + 3.0, 0) == 0
    assert policy.wait_s(state, T0 + 10.0, 0) == 0


def test_when_every_slot_is_in_flight_only_a_release_makes_room() -> None:
    state = started(max_in_flight=2, requests_per_minute=600)
    first = grant(state, T0)
    grant(state, T0)
    assert policy.wait_s(state, T0, 0) is None
    assert policy.wait_s(state, T0 + 30, 0) is None  # not a time to wait for: a release
    policy.release(state, first, 0, 0)
    assert policy.wait_s(state, T0, 0) == 0


def test_a_lapsed_lease_makes_room_at_the_next_refill_only() -> None:
    state = started(max_in_flight=1)
    grant(state, T0, lease_s=60.0)
    # wait_s does not look at when leases lapse: it says None, not "in 60 s"
    assert policy.wait_s(state, T0 + 120, 0) is None
    policy.refill(state, T0 + 120)
    assert policy.wait_s(state, T0 + 120, 0) == 0


def test_a_full_in_flight_cap_says_none_even_while_paused() -> None:
    state = started(max_in_flight=1)
    grant(state, T0)
    state.paused_until = T0 + 5.0
    assert policy.wait_s(state, T0, 0) is None


# -- take --------------------------------------------------------------------------------------------------


def test_take_spends_a_request_and_the_tokens_estimated() -> None:
    state = started(requests_per_minute=600, tokens_per_minute=60_000)
    policy.take(state, T0, 100, "k", 60.0)
    assert state.requests.level == pytest.approx(RB - 1)
    assert state.tokens.level == pytest.approx(TB - 100)
    assert state.granted == 1


def test_take_charges_a_call_bigger_than_the_bucket_in_full() -> None:
    state = started(tokens_per_minute=60_000)
    policy.take(state, T0, 5000, "k", 60.0)
    assert state.tokens.level == pytest.approx(TB - 5000)  # in debt: the next asks wait it out
    assert policy.wait_s(state, T0, 1) == pytest.approx((1 - (TB - 5000)) / T)


def test_a_permit_for_three_calls_of_a_slow_model_is_charged_three() -> None:
    state = started(requests_per_minute=6)  # 0.097 calls/s: the bucket holds one call
    policy.take(state, T0, 0, "k", 60.0, calls=3)
    assert policy.wait_s(state, T0, 0, calls=3) == pytest.approx(3 / (0.1 * HEADROOM))


def test_each_lease_is_named_by_the_budget_and_a_number() -> None:
    state = started()
    leases = [policy.take(state, T0, 0, "api.openai.com/gpt", 60.0) for _ in range(3)]
    assert leases == ["api.openai.com/gpt#0", "api.openai.com/gpt#1", "api.openai.com/gpt#2"]
    assert state.next_lease == 3 and state.granted == 3


def test_leases_are_held_only_when_calls_in_flight_are_capped() -> None:
    uncapped = started(requests_per_minute=600)
    policy.take(uncapped, T0, 0, "k", 60.0)
    assert uncapped.in_flight == {}
    capped = started(max_in_flight=5)
    lease = policy.take(capped, T0, 0, "k", 45.0)
    assert capped.in_flight == {lease: T0 + 45.0}


def test_a_probed_rate_is_raised_by_half_every_quiet_step() -> None:
    state = started()
    state.learned.probed_per_s, state.learned.probed_at = 2.0, T0
    policy.take(state, T0 + PROBE_STEP_S / 2, 0, "k", 60.0)
    assert state.learned.probed_per_s == 2.0
    policy.take(state, T0 + PROBE_STEP_S, 0, "k", 60.0)
    assert state.learned.probed_per_s == pytest.approx(2.0 * PROBE_RAISE)
    assert state.learned.probed_at == T0 + PROBE_STEP_S
    policy.take(state, T0 + 1.5 * PROBE_STEP_S, 0, "k", 60.0)
    assert state.learned.probed_per_s == pytest.approx(3.0)
    policy.take(state, T0 + 12 * PROBE_STEP_S, 0, "k", 60.0)  # one raise per call, however long the quiet was
    assert state.learned.probed_per_s == pytest.approx(4.5)


def test_take_counts_the_grants_of_the_last_step() -> None:
    state = started()
    for second in range(int(PROBE_STEP_S) + 1):
        policy.take(state, T0 + second, 0, "k", 60.0)
    assert (state.learned.window_at, state.learned.window_granted) == (T0, int(PROBE_STEP_S) + 1)
    policy.take(state, T0 + PROBE_STEP_S + 0.5, 0, "k", 60.0)
    assert (state.learned.window_at, state.learned.window_granted) == (T0 + PROBE_STEP_S + 0.5, 1)


# -- release ---------------------------------------------------------------------------------------------


def test_release_frees_the_lease() -> None:
    state = started(max_in_flight=2)
    lease = grant(state, T0)
    policy.release(state, lease, 0, 0)
    assert state.in_flight == {}


def test_releasing_an_unknown_or_no_lease_is_harmless() -> None:
    state = started(max_in_flight=2)
    lease = grant(state, T0)
    policy.release(state, "k#99", 0, 0)
    policy.release(state, None, 0, 0)
    assert set(state.in_flight) == {lease}


def test_a_call_that_cost_more_than_estimated_is_charged_the_rest() -> None:
    state = started(tokens_per_minute=60_000)
    lease = grant(state, T0, tokens=100)
    policy.release(state, lease, tokens_used=300, tokens_estimated=100)
    assert state.tokens.level == pytest.approx(TB - 300)


def test_a_call_may_leave_the_token_bucket_in_debt() -> None:
    state = started(tokens_per_minute=60_000)
    lease = grant(state, T0, tokens=900)
    policy.release(state, lease, tokens_used=2000, tokens_estimated=900)
    assert state.tokens.level == pytest.approx(TB - 2000)
    assert policy.wait_s(state, T0, 1) == pytest.approx((1 - (TB - 2000)) / T)


def test_a_call_that_cost_less_than_estimated_gets_the_rest_back() -> None:
    state = started(tokens_per_minute=60_000)
    lease = grant(state, T0, tokens=500)
    policy.release(state, lease, tokens_used=200, tokens_estimated=500)
    assert state.tokens.level == pytest.approx(TB - 500 + 300)


def test_a_refused_call_costs_nothing() -> None:
    state = started(tokens_per_minute=60_000, max_in_flight=1)
    before = state.tokens.level
    lease = grant(state, T0, tokens=400)
    policy.release(state, lease, tokens_used=0, tokens_estimated=400)
    assert state.tokens.level == pytest.approx(before)
    assert state.in_flight == {}


def test_release_leaves_an_unpaced_token_bucket_alone() -> None:
    state = started(requests_per_minute=600)
    lease = grant(state, T0, tokens=100)
    policy.release(state, lease, tokens_used=900, tokens_estimated=100)
    assert state.tokens.level == 0.0


def test_a_refund_never_fills_the_token_bucket_beyond_a_burst() -> None:
    state = started(tokens_per_minute=60_000)  # holds 950
    lease = grant(state, T0, tokens=600)
    policy.refill(state, T0 + 5)  # full again while the call ran
    policy.release(state, lease, tokens_used=0, tokens_estimated=600)  # and it was refused
    assert state.tokens.level <= T + 1e-9
    assert granted_at_once(state, T0 + 5, tokens=100) <= 10


def test_a_refused_call_bigger_than_the_bucket_is_refunded_up_to_a_full_bucket() -> None:
    state = started(tokens_per_minute=60_000)  # holds 485
    lease = grant(state, T0, tokens=3000)
    assert state.tokens.level == pytest.approx(TB - 3000)
    policy.release(state, lease, tokens_used=0, tokens_estimated=3000)
    assert state.tokens.level == pytest.approx(TB)


# -- learn -----------------------------------------------------------------------------------------------


def test_an_answer_without_signals_teaches_nothing() -> None:
    state = started(requests_per_minute=600)
    before = state.model_copy(deep=True)
    policy.learn(state, T0, None, rate_limited=False)
    policy.learn(state, T0, ProviderSignals(), rate_limited=False)
    assert state == before


def test_stated_limits_are_learned_with_when_they_were_stated() -> None:
    state = started()
    policy.learn(state, T0 + 1, ProviderSignals(limit_requests=500, limit_tokens=30_000), rate_limited=False)
    assert (state.learned.requests_per_minute, state.learned.tokens_per_minute) == (500, 30_000)
    assert state.learned.stated_at == T0 + 1
    assert state.paused_until == 0.0 and state.rate_limited == 0


def test_a_stated_tokens_limit_alone_keeps_the_requests_limit_learned_before() -> None:
    state = started()
    policy.learn(state, T0, ProviderSignals(limit_requests=500), rate_limited=False)
    policy.learn(state, T0 + 1, ProviderSignals(limit_tokens=30_000), rate_limited=False)
    assert (state.learned.requests_per_minute, state.learned.tokens_per_minute) == (500, 30_000)
    assert state.learned.stated_at == T0 + 1


def test_a_429_pauses_as_long_as_retry_after_says() -> None:
    state = started(requests_per_minute=600)
    policy.learn(state, T0, ProviderSignals(retry_after_s=2.5), rate_limited=True)
    assert state.paused_until == T0 + 2.5
    assert state.rate_limited == 1
    policy.refill(state, T0 + 2.4)
    assert policy.wait_s(state, T0 + 2.4, 0) == pytest.approx(0.1)


@pytest.mark.parametrize("signals", [None, ProviderSignals(), ProviderSignals(limit_requests=600)])
def test_a_429_without_retry_after_pauses_the_default(signals: ProviderSignals | None) -> None:
    state = started(requests_per_minute=600)
    policy.learn(state, T0, signals, rate_limited=True)
    assert state.paused_until == T0 + DEFAULT_PAUSE_S == T0 + 1.0


def test_a_retry_after_of_zero_is_believed() -> None:
    state = started(requests_per_minute=600)
    policy.learn(state, T0, ProviderSignals(retry_after_s=0.0), rate_limited=True)
    assert state.paused_until == T0


def test_a_later_429_never_shortens_a_pause() -> None:
    state = started(requests_per_minute=600)
    policy.learn(state, T0, ProviderSignals(retry_after_s=10.0), rate_limited=True)
    policy.learn(state, T0 + 1, ProviderSignals(retry_after_s=1.0), rate_limited=True)
    assert state.paused_until == T0 + 10.0
    policy.learn(state, T0 + 2, ProviderSignals(retry_after_s=20.0), rate_limited=True)
    assert state.paused_until == T0 + 22.0
    assert state.rate_limited == 3


def test_a_429_empties_the_request_bucket_but_keeps_its_debt() -> None:
    state = started(requests_per_minute=600, tokens_per_minute=60_000)
    policy.learn(state, T0, ProviderSignals(retry_after_s=0.0), rate_limited=True)
    assert state.requests.level == 0.0
    assert state.tokens.level == pytest.approx(TB)  # tokens were not what ran out
    state.requests.level = -3.0
    policy.learn(state, T0, ProviderSignals(retry_after_s=0.0), rate_limited=True)
    assert state.requests.level == -3.0


def test_after_a_429_calls_come_back_one_by_one_not_as_a_burst() -> None:
    state = started(requests_per_minute=600)
    policy.learn(state, T0, ProviderSignals(retry_after_s=0.5), rate_limited=True)
    assert granted_at_once(state, T0 + 0.5) == 4  # 0.5 s at 9.5/s, not the 9 of a full bucket


def test_a_429_of_a_configured_budget_starts_no_probe() -> None:
    state = started(requests_per_minute=600)
    policy.learn(state, T0, None, rate_limited=True)
    assert state.learned.probed_per_s is None
    state = started()
    policy.learn(state, T0, ProviderSignals(limit_requests=600), rate_limited=True)
    assert state.learned.probed_per_s is None


def test_a_first_429_with_nothing_stated_probes_half_the_rate_granted_lately() -> None:
    state = started()
    for i in range(40):
        grant(state, T0 + i * 0.1)  # 10 a second for 4 s
    policy.learn(state, T0 + 4, None, rate_limited=True)
    assert state.learned.probed_per_s == pytest.approx(40 / 4 / 2)
    assert state.learned.probed_at == T0 + 4
    assert policy.rates(state) == (pytest.approx(5.0), None)


def test_a_quick_first_429_counts_the_grants_over_at_least_a_second() -> None:
    state = started()
    for _ in range(PROBE_MIN_CALLS):
        grant(state, T0)
    policy.learn(state, T0 + 0.2, None, rate_limited=True)
    assert state.learned.probed_per_s == pytest.approx(PROBE_MIN_CALLS / 2)


def test_a_429_after_a_few_calls_only_pauses() -> None:
    """A handful of calls says nothing of a rate (one burst, a provider's hiccup): no probe from it."""
    state = started()
    for _ in range(PROBE_MIN_CALLS - 1):
        grant(state, T0)
    policy.learn(state, T0 + 0.2, ProviderSignals(retry_after_s=0.05), rate_limited=True)
    assert state.learned.probed_per_s is None and policy.rates(state) == (None, None)
    assert state.paused_until == pytest.approx(T0 + 0.25)


def test_each_further_429_halves_the_probed_rate_down_to_a_floor() -> None:
    state = started()
    state.learned.probed_per_s = 1.0
    rates = []
    for i in range(6):
        policy.learn(state, T0 + i, None, rate_limited=True)
        rates.append(state.learned.probed_per_s)
    assert rates == pytest.approx([0.5, 0.25, 0.125, PROBE_FLOOR_PER_S, PROBE_FLOOR_PER_S, PROBE_FLOOR_PER_S])


def test_a_first_429_without_any_grant_only_pauses() -> None:
    state = started()
    policy.learn(state, T0, None, rate_limited=True)
    assert state.learned.probed_per_s is None and state.paused_until == T0 + DEFAULT_PAUSE_S


def test_a_stated_requests_limit_ends_the_probe() -> None:
    state = started()
    state.learned.probed_per_s = 0.2
    policy.learn(state, T0, ProviderSignals(limit_tokens=1000), rate_limited=False)
    assert state.learned.probed_per_s == 0.2  # a tokens limit says nothing of requests
    policy.learn(state, T0, ProviderSignals(limit_requests=3000), rate_limited=False)
    assert state.learned.probed_per_s is None
    assert policy.rates(state)[0] == pytest.approx(3000 / 60 * HEADROOM)


@pytest.mark.parametrize(
    "signals",
    [ProviderSignals(retry_after_s=0.2), ProviderSignals(retry_after_s=0.2, limit_requests=6000)],
    ids=["probing", "first-stated"],
)
def test_after_the_first_429_of_an_unconfigured_budget_calls_come_back_one_by_one(
    signals: ProviderSignals,
) -> None:
    state = started()
    for i in range(40):
        grant(state, T0 + i * 0.05)  # 20 a second for 2 s
    now = T0 + 2.0
    policy.refill(state, now)
    policy.learn(state, now, signals, rate_limited=True)
    rate = policy.rates(state)[0]
    assert rate is not None
    # 0.2 s after the 429 there is room for 0.2 s of the new rate (and the call due then), no more
    assert granted_at_once(state, now + 0.2) <= rate * 0.2 + 1


# -- simulations -----------------------------------------------------------------------------------------


def run_budget(state: BudgetState, seconds: float, call_s: float = 0.0, tokens: int = 0) -> tuple[int, int]:
    """Drive ``state`` from T0 for ``seconds``: a caller that always has a call waiting takes a permit
    whenever wait_s says 0; each call lasts ``call_s`` and then reports. Returns (granted, most in flight)."""
    now, end = T0, T0 + seconds
    running: list[tuple[float, str]] = []  # (ends at, lease)
    granted = most = 0
    while now < end:
        while running and running[0][0] <= now:
            _, lease = heapq.heappop(running)
            policy.release(state, lease, tokens, tokens)
        policy.refill(state, now)
        wait = policy.wait_s(state, now, tokens)
        if wait == 0:
            lease = policy.take(state, now, tokens, "sim", 600.0)
            granted += 1
            heapq.heappush(running, (now + call_s, lease))
            most = max(most, sum(1 for ends, _ in running if ends > now), len(state.in_flight))
            assert state.limits.max_in_flight is None or len(state.in_flight) <= state.limits.max_in_flight
            continue
        if wait is None:
            assert running, "only a release can make room, so a call must be running"
            now = running[0][0]
        else:
            # to when wait_s says, or to the next report if that comes first (a step of at least
            # a microsecond, so float rounding cannot stall the clock)
            now += max(wait, 1e-6)
            if running:
                now = min(now, running[0][0])
    return granted, most


def test_a_minute_at_1800_a_minute_grants_within_the_headroom_plus_a_burst() -> None:
    state = budget(requests_per_minute=1800)
    granted, _ = run_budget(state, 60.0)
    per_s = 1800 / 60
    assert granted <= HEADROOM * per_s * 60 + HEADROOM * per_s  # the pace plus the first burst
    assert granted >= 0.93 * per_s * 60
    assert state.granted == granted


def test_a_minute_of_token_limited_calls_keeps_the_token_rate() -> None:
    state = budget(tokens_per_minute=60_000)  # 950 tokens/s at the headroom, 950 in the bucket
    granted, _ = run_budget(state, 60.0, tokens=100)
    calls_per_minute = 60_000 / 100
    assert 0.93 * calls_per_minute <= granted <= (HEADROOM * 60_000 + 950) / 100


def test_calls_in_flight_never_exceed_the_cap() -> None:
    state = budget(max_in_flight=4, requests_per_minute=1800)
    granted, most = run_budget(state, 60.0, call_s=0.5)
    assert most == 4
    assert state.in_flight == {} or len(state.in_flight) <= 4
    assert granted == pytest.approx(4 / 0.5 * 60, abs=4)  # the cap, not the rate, sets the pace


def test_the_rate_still_holds_when_calls_in_flight_are_capped() -> None:
    state = budget(max_in_flight=50, requests_per_minute=600)
    granted, most = run_budget(state, 60.0, call_s=2.0)
    assert most <= 50
    assert 0.93 * 600 <= granted <= HEADROOM * 600 + HEADROOM * 10
