"""Rate limits of the offline model (offline_model/limits.py) and how its server answers them.

The limits are OpenAI's: per model, a requests bucket and a tokens bucket; a call that finds one
short is answered 429 ``rate_limit_exceeded`` with ``retry-after``/``retry-after-ms``, and every
answer of a limited model states ``x-ratelimit-{limit,remaining,reset}-*``. The first part tests
the arithmetic with explicit clock values; the second runs the ASGI app on a real port (hypercorn,
in a thread of this process, like ``python -m offline_model`` does in a process of its own) and
speaks to it with the control client and the ``openai`` client. The server's monotonic clock is
replaced by a fake one, so no test sleeps and every wait is exact.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from agentpipe.settings import OFFLINE_MODEL_NAME
from offline_model import server
from offline_model.client import OfflineModelControl
from offline_model.limits import MAX_RATE, Limiter, ModelLimiter, RateLimits, format_reset
from offline_model.server import OfflineModelApp
from tests.ports import free_port

# -- format_reset -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.02, "20ms"),
        (0.12, "120ms"),
        (0.999, "999ms"),
        (1.0, "1s"),
        (59.0, "59s"),
        (60.0, "1m0s"),
        (90.0, "1m30s"),
        (360.0, "6m0s"),
        (3600.0, "1h0m0s"),
        (3723.0, "1h2m3s"),
    ],
)
def test_format_reset_writes_openais_duration_form(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0, "1ms"),  # a full bucket still says a millisecond, never "0ms"
        (0.0004, "1ms"),
        (0.0201, "21ms"),
        (0.9995, "1s"),
        (1.0001, "2s"),  # whole seconds from one second on, rounded up
        (1.5, "2s"),
        (59.5, "1m0s"),
        (3723.4, "1h2m4s"),
    ],
)
def test_format_reset_rounds_up_so_a_client_never_comes_back_too_early(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_format_reset_is_not_fooled_by_float_noise() -> None:
    assert 0.1 * 3 > 0.3  # 0.30000000000000004
    assert format_reset(0.1 * 3) == "300ms"
    assert format_reset(1.1 - 1.0) == "100ms"


# -- RateLimits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["requests_per_s", "tokens_per_min"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_rate_limits_take_only_positive_finite_rates(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        RateLimits(**{name: value})


@pytest.mark.parametrize("burst_s", [0.0, -0.5, math.nan, math.inf])
def test_rate_limits_take_only_a_positive_finite_burst(burst_s: float) -> None:
    with pytest.raises(ValueError, match="burst_s"):
        RateLimits(requests_per_s=1.0, burst_s=burst_s)


def test_rate_limits_are_active_when_either_rate_is_set() -> None:
    assert not RateLimits().active
    assert not RateLimits(burst_s=5.0).active
    assert RateLimits(requests_per_s=1.0).active
    assert RateLimits(tokens_per_min=100.0).active


# -- ModelLimiter ----------------------------------------------------------------------------------------


def test_a_model_starts_with_a_full_burst_then_is_refused() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=2.0))
    assert [limiter.take(100.0, 1).allowed for _ in range(3)] == [True, True, False]


def test_a_refusal_names_the_limit_and_the_exact_wait() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=2.0))
    limiter.take(100.0, 1)
    limiter.take(100.0, 1)
    verdict = limiter.take(100.0, 1)
    assert not verdict.allowed
    assert verdict.limited_by == "requests"
    assert verdict.retry_after_s == pytest.approx(0.5)


def test_a_refused_call_takes_nothing_from_the_buckets() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=2.0, tokens_per_min=600.0))
    limiter.take(100.0, 5)
    limiter.take(100.0, 5)
    assert limiter.requests is not None and limiter.tokens is not None
    before = (limiter.requests.level, limiter.tokens.level)
    for _ in range(5):
        assert not limiter.take(100.0, 5).allowed
    assert (limiter.requests.level, limiter.tokens.level) == before
    # so the wait it named is enough, however many were refused meanwhile
    assert limiter.take(100.5, 5).allowed


def test_buckets_refill_at_their_rate_but_never_beyond_a_burst() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=2.0))
    limiter.take(100.0, 1)
    limiter.take(100.0, 1)
    assert limiter.take(100.5, 1).allowed  # one came back
    assert not limiter.take(100.5, 1).allowed
    # after an hour of quiet, still only burst_s (1 s) worth of calls
    assert [limiter.take(3700.0, 1).allowed for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    "limits, capacity",
    [
        (RateLimits(requests_per_s=10.0, burst_s=3.0), 30.0),
        (RateLimits(requests_per_s=10.0, burst_s=0.5), 5.0),
        (RateLimits(requests_per_s=0.1), 1.0),  # never below one call
    ],
)
def test_burst_s_sizes_the_requests_bucket_but_never_below_one_call(limits: RateLimits, capacity: float) -> None:
    limiter = ModelLimiter(limits)
    assert limiter.requests is not None and limiter.requests.capacity == capacity
    assert sum(limiter.take(0.0, 1).allowed for _ in range(40)) == capacity


def test_the_token_bucket_refuses_a_call_it_cannot_pay_for() -> None:
    limiter = ModelLimiter(RateLimits(tokens_per_min=600.0))  # 10 a second, 10 in the bucket
    assert limiter.requests is None
    assert limiter.take(0.0, 8).allowed
    verdict = limiter.take(0.0, 5)
    assert (verdict.allowed, verdict.limited_by) == (False, "tokens")
    assert verdict.retry_after_s == pytest.approx(0.3)
    assert limiter.take(0.3, 5).allowed


def test_a_call_bigger_than_the_token_bucket_waits_for_a_full_one_and_empties_it() -> None:
    limiter = ModelLimiter(RateLimits(tokens_per_min=600.0))
    assert limiter.take(0.0, 4).allowed
    verdict = limiter.take(0.0, 50)
    assert not verdict.allowed and verdict.retry_after_s == pytest.approx(0.4)  # until 10 are there, not 50
    assert limiter.take(0.4, 50).allowed
    assert limiter.tokens is not None and limiter.tokens.level == pytest.approx(0.0)


def test_when_both_buckets_are_short_the_longer_wait_is_named() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=1.0, tokens_per_min=60.0))  # 1 call/s, 1 token/s
    assert limiter.take(0.0, 1).allowed
    verdict = limiter.take(0.0, 1)  # both short by 1 s: equal, either may be named
    assert verdict.retry_after_s == pytest.approx(1.0)
    limiter = ModelLimiter(RateLimits(requests_per_s=1.0, tokens_per_min=600.0, burst_s=2.0))
    for _ in range(2):
        assert limiter.take(0.0, 10).allowed  # 2 requests, 20 tokens: both buckets empty
    verdict = limiter.take(0.0, 15)
    assert verdict.limited_by == "tokens" and verdict.retry_after_s == pytest.approx(1.5)
    verdict = limiter.take(0.0, 1)
    assert verdict.limited_by == "requests" and verdict.retry_after_s == pytest.approx(1.0)


def test_headers_state_the_limits_per_minute_what_remains_and_when_it_is_whole() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=0.5, tokens_per_min=600.0, burst_s=4.0))
    verdict = limiter.take(0.0, 15)  # buckets of 2 requests and 40 tokens
    assert verdict.allowed
    assert verdict.headers == {
        "x-ratelimit-limit-requests": "30",
        "x-ratelimit-remaining-requests": "15",  # half the bucket left: half the limit, per minute
        "x-ratelimit-reset-requests": "2s",  # one request back at 0.5/s
        "x-ratelimit-limit-tokens": "600",
        "x-ratelimit-remaining-tokens": "375",  # 25 of 40
        "x-ratelimit-reset-tokens": "2s",  # 15 tokens at 10/s: 1.5 s, rounded up
    }


def test_a_refusal_adds_retry_after_in_whole_seconds_and_in_milliseconds() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=4.0))
    for _ in range(4):
        limiter.take(0.0, 1)
    refused = limiter.take(0.1, 1)  # 0.4 back, 0.6 short: 0.15 s
    assert refused.headers["retry-after"] == "1"  # never 0
    assert refused.headers["retry-after-ms"] == "150"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"] == "900ms"
    later = limiter.take(2.0, 1)
    assert later.allowed and "retry-after" not in later.headers and "retry-after-ms" not in later.headers


def test_remaining_is_rounded_down_and_never_negative() -> None:
    limiter = ModelLimiter(RateLimits(tokens_per_min=600.0))
    assert limiter.take(0.0, 3).headers["x-ratelimit-remaining-tokens"] == "420"  # 7 of 10, per minute
    assert limiter.take(0.05, 3).headers["x-ratelimit-remaining-tokens"] == "240"  # 4.5 of 10: 4 whole


def test_a_limit_too_large_to_state_is_refused_when_set() -> None:
    # 1e308 per second is finite, but per minute it is not: it would break every call's headers.
    with pytest.raises(ValueError, match="up to"):
        RateLimits(requests_per_s=1e308)
    assert ModelLimiter(RateLimits(requests_per_s=MAX_RATE)).take(0.0, 1).allowed


# -- Limiter -----------------------------------------------------------------------------------------------


def test_a_limiter_without_limits_leaves_every_model_alone() -> None:
    limiter = Limiter()
    assert limiter.take("m", 0.0, 10) is None
    assert (limiter.allowed, limiter.refused) == (0, 0)


def test_each_model_has_buckets_of_its_own() -> None:
    limiter = Limiter(RateLimits(requests_per_s=1.0))
    assert verdict_allowed(limiter.take("a", 0.0, 1))
    assert not verdict_allowed(limiter.take("a", 0.0, 1))
    assert verdict_allowed(limiter.take("b", 0.0, 1))


def test_a_model_of_its_own_limits_overrides_the_default_and_null_lifts_it() -> None:
    limiter = Limiter(RateLimits(requests_per_s=1.0))
    limiter.configure(RateLimits(requests_per_s=3.0), model="fast")
    limiter.configure(RateLimits(), model="free")
    assert [verdict_allowed(limiter.take("fast", 0.0, 1)) for _ in range(4)] == [True, True, True, False]
    assert all(limiter.take("free", 0.0, 1) is None for _ in range(10))
    assert [verdict_allowed(limiter.take("other", 0.0, 1)) for _ in range(2)] == [True, False]


def test_configuring_a_model_restarts_only_its_buckets() -> None:
    limiter = Limiter(RateLimits(requests_per_s=1.0))
    for model in ("a", "b"):
        limiter.take(model, 0.0, 1)
    limiter.configure(RateLimits(requests_per_s=1.0), model="a")
    assert verdict_allowed(limiter.take("a", 0.0, 1))  # a full bucket again
    assert not verdict_allowed(limiter.take("b", 0.0, 1))


def test_new_default_limits_apply_at_once_with_full_buckets() -> None:
    limiter = Limiter(RateLimits(requests_per_s=1.0))
    limiter.take("a", 0.0, 1)
    limiter.configure(RateLimits(requests_per_s=2.0))
    assert [verdict_allowed(limiter.take("a", 0.0, 1)) for _ in range(3)] == [True, True, False]


def test_reset_drops_the_models_own_limits_and_starts_over() -> None:
    limiter = Limiter()
    limiter.configure(RateLimits(requests_per_s=1.0), model="a")
    limiter.take("a", 0.0, 1)
    limiter.reset(RateLimits(tokens_per_min=60.0))
    assert limiter.per_model == {}
    verdict = limiter.take("a", 0.0, 1)
    assert verdict is not None and verdict.allowed and "x-ratelimit-limit-tokens" in verdict.headers
    assert "x-ratelimit-limit-requests" not in verdict.headers


def test_the_limiter_counts_what_it_allowed_and_refused_and_shows_its_limits() -> None:
    limiter = Limiter(RateLimits(requests_per_s=1.0))
    limiter.configure(RateLimits(tokens_per_min=120.0, burst_s=2.0), model="m")
    for _ in range(3):
        limiter.take("a", 0.0, 1)
    limiter.take("unlimited-by-none", 0.0, 1)
    assert limiter.state() == {
        "requests_per_s": 1.0,
        "tokens_per_min": None,
        "burst_s": 1.0,
        "models": {"m": {"requests_per_s": None, "tokens_per_min": 120.0, "burst_s": 2.0}},
        "allowed": 2,
        "refused": 2,
    }


def verdict_allowed(verdict: Any) -> bool:
    assert verdict is not None, "the model is limited, so there is a verdict"
    return bool(verdict.allowed)


# -- the server, on a real port -----------------------------------------------------------------------------


class FakeClock:
    """Stands in for the server's ``time`` module: a monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CurrentApp:
    """The ASGI app the server runs: a fresh OfflineModelApp per test, so no state leaks between tests."""

    def __init__(self) -> None:
        self.app = OfflineModelApp()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server, "time", types.SimpleNamespace(monotonic=fake.monotonic, time=fake.time))
        yield fake


@pytest.fixture(scope="module")
def current(clock: FakeClock) -> CurrentApp:
    return CurrentApp()


@pytest.fixture(scope="module")
def base_url(current: CurrentApp) -> Iterator[str]:
    port = free_port()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def stopped() -> None:
        await stop.wait()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(port=port, shutdown_trigger=stopped, asgi_app=current))  # type: ignore[arg-type]

    thread = threading.Thread(target=run, name="offline-model", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        with OfflineModelControl(url) as control:
            if not control.wait_healthy(timeout=10):
                pytest.fail("the offline model did not start in a thread")
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5)
        loop.close()


@pytest.fixture(autouse=True)
def app(request: pytest.FixtureRequest) -> OfflineModelApp | None:
    """A fresh app and clock for each test that speaks to the server (the others start no server)."""
    if not {"control", "http", "client"} & set(request.fixturenames):
        return None
    current: CurrentApp = request.getfixturevalue("current")
    clock: FakeClock = request.getfixturevalue("clock")
    clock.now = 1000.0
    current.app = OfflineModelApp()
    return current.app


# The clients live as long as the server (each makes an SSL context, which is slow); every test that
# uses one gets a fresh app through the autouse fixture above.


@pytest.fixture(scope="module")
def control(base_url: str) -> Iterator[OfflineModelControl]:
    with OfflineModelControl(base_url) as ctl:
        yield ctl


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="offline", max_retries=0, timeout=5) as c:
        yield c


def complete(http: httpx.Client, model: str = OFFLINE_MODEL_NAME) -> httpx.Response:
    """One completion; it costs 4 tokens ("hello" of prompt, "offline model: hello" of reply)."""
    return http.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hello"}]})


def test_a_limited_model_answers_429_the_way_openai_does(http: httpx.Client, control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=0.5)
    assert complete(http).status_code == 200
    refused = complete(http)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == server.ERROR_TYPES[429] == "rate_limit_error"
    assert error["code"] == "rate_limit_exceeded"
    assert error["param"] is None
    assert "requests" in error["message"] and "2.000s" in error["message"]
    assert refused.headers["retry-after"] == "2"
    assert refused.headers["retry-after-ms"] == "2000"
    assert refused.headers["x-ratelimit-limit-requests"] == "30"  # per minute
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"] == "2s"
    assert "x-ratelimit-limit-tokens" not in refused.headers


def test_the_wait_a_429_names_is_exactly_enough(
    http: httpx.Client, control: OfflineModelControl, clock: FakeClock
) -> None:
    control.set_limits(requests_per_s=4.0)
    assert [complete(http).status_code for _ in range(5)] == [200, 200, 200, 200, 429]
    clock.advance(0.125)
    refused = complete(http)
    assert refused.status_code == 429 and refused.headers["retry-after-ms"] == "125"
    clock.advance(0.125)
    assert complete(http).status_code == 200
    assert complete(http).status_code == 429


def test_a_200_answer_carries_the_rate_limit_headers(http: httpx.Client, control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=10.0, tokens_per_min=600.0, burst_s=2.0)
    answer = complete(http)
    assert answer.status_code == 200
    assert answer.json()["usage"]["total_tokens"] == 4
    assert {k: v for k, v in answer.headers.items() if k.startswith("x-ratelimit-")} == {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "570",  # 19 of 20
        "x-ratelimit-reset-requests": "100ms",
        "x-ratelimit-limit-tokens": "600",
        "x-ratelimit-remaining-tokens": "480",  # 16 of 20
        "x-ratelimit-reset-tokens": "400ms",
    }
    assert "retry-after" not in answer.headers and "retry-after-ms" not in answer.headers


def test_the_tokens_limit_refuses_with_the_tokens_named(
    http: httpx.Client, control: OfflineModelControl, clock: FakeClock
) -> None:
    control.set_limits(tokens_per_min=300.0)  # 5 a second, 5 in the bucket; a call costs 4
    assert complete(http).status_code == 200
    refused = complete(http)
    assert refused.status_code == 429
    assert "tokens" in refused.json()["error"]["message"]
    assert refused.headers["retry-after-ms"] == "600"  # 3 tokens short at 5/s
    assert refused.headers["x-ratelimit-remaining-tokens"] == "60"  # 1 of 5, per minute
    clock.advance(0.6)
    assert complete(http).status_code == 200


def test_an_unlimited_model_answers_without_rate_limit_headers(http: httpx.Client) -> None:
    answers = [complete(http) for _ in range(5)]
    assert all(a.status_code == 200 for a in answers)
    assert not any(k.startswith(("x-ratelimit-", "retry-after")) for a in answers for k in a.headers)


def test_per_model_limits_leave_other_models_unlimited(http: httpx.Client, control: OfflineModelControl) -> None:
    state = control.set_limits(requests_per_s=1.0, model="slow-model")
    assert state["limits"]["models"] == {"slow-model": {"requests_per_s": 1.0, "tokens_per_min": None, "burst_s": 1.0}}
    assert state["limits"]["requests_per_s"] is None
    assert [complete(http, "slow-model").status_code for _ in range(2)] == [200, 429]
    others = [complete(http, model) for model in ("fast-model", OFFLINE_MODEL_NAME) for _ in range(5)]
    assert [a.status_code for a in others] == [200] * 10
    assert not any(k.startswith("x-ratelimit-") for a in others for k in a.headers)


def test_default_limits_hold_each_model_to_its_own_buckets(http: httpx.Client, control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=1.0)
    assert [complete(http, "a").status_code for _ in range(2)] == [200, 429]
    assert [complete(http, "b").status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize(
    "body",
    [
        {"requests_per_s": 0},
        {"requests_per_s": -1},
        {"tokens_per_min": -5},
        {"requests_per_s": "fast"},
        {"requests_per_s": [1]},
        {"burst_s": 0},
        {"burst_s": None},
        {"per_hour": 10},
        {"model": 5, "requests_per_s": 1},
        {"model": ["a"], "requests_per_s": 1},
        [],
        None,
        "fast",
    ],
)
def test_the_limits_control_rejects_bad_input_with_400(
    http: httpx.Client, control: OfflineModelControl, body: Any
) -> None:
    before = control.state()["limits"]
    response = http.post("/control/limits", content=json.dumps(body).encode())
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert control.state()["limits"] == before


def test_the_limits_control_rejects_a_body_that_is_not_json(http: httpx.Client) -> None:
    assert http.post("/control/limits", content=b"{requests_per_s: 1").status_code == 400


def test_the_control_client_sets_default_and_per_model_limits(control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=2.0, burst_s=3.0)
    state = control.set_limits(tokens_per_min=1000.0, model="m")
    assert state["limits"] == {
        "requests_per_s": 2.0,
        "tokens_per_min": None,
        "burst_s": 3.0,
        "models": {"m": {"requests_per_s": None, "tokens_per_min": 1000.0, "burst_s": 1.0}},
        "allowed": 0,
        "refused": 0,
    }
    assert control.state()["limits"] == state["limits"]
    # no rates at all lifts the default limits
    assert control.set_limits()["limits"]["requests_per_s"] is None


def test_reset_returns_to_the_limits_the_server_started_with(
    current: CurrentApp, http: httpx.Client, control: OfflineModelControl
) -> None:
    current.app = OfflineModelApp(RateLimits(requests_per_s=2.0))
    control.set_limits(requests_per_s=0.5)
    control.set_limits(requests_per_s=0.5, model="special")
    assert [complete(http).status_code for _ in range(2)] == [200, 429]
    state = control.reset()
    assert {k: state["limits"][k] for k in ("requests_per_s", "tokens_per_min", "burst_s", "models")} == {
        "requests_per_s": 2.0,
        "tokens_per_min": None,
        "burst_s": 1.0,
        "models": {},
    }
    # the start limits again, with full buckets, for every model
    assert [complete(http).status_code for _ in range(3)] == [200, 200, 429]
    assert [complete(http, "special").status_code for _ in range(3)] == [200, 200, 429]
    assert complete(http, "special").headers["x-ratelimit-limit-requests"] == "120"


def test_the_server_counts_allowed_and_refused_calls(http: httpx.Client, control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=1.0, model="m")
    for _ in range(3):
        complete(http, "m")
    complete(http, "unlimited")
    limits = control.state()["limits"]
    assert (limits["allowed"], limits["refused"]) == (1, 2)


def test_the_call_log_records_a_refusal_as_429_rate_limited(
    client: openai.OpenAI, control: OfflineModelControl
) -> None:
    control.set_limits(requests_per_s=1.0)

    def call(request_id: str) -> None:
        client.chat.completions.create(
            model=OFFLINE_MODEL_NAME,
            messages=[{"role": "user", "content": "hello"}],
            extra_headers={"X-Agentpipe-Request-Id": request_id, "X-Agentpipe-Step": "llm-1"},
        )

    call("first")
    with pytest.raises(openai.RateLimitError):
        call("second")
    [first] = control.calls(request_id="first")
    [second] = control.calls(request_id="second")
    assert (first["status"], first["fault"]) == (200, None)
    assert (second["status"], second["fault"], second["step"]) == (429, "rate_limited", "llm-1")
    assert second["finished_at"] is not None and second.get("usage") is None


def test_the_openai_client_raises_rate_limit_error(client: openai.OpenAI, control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=0.5)
    messages: list[Any] = [{"role": "user", "content": "hello"}]
    raw = client.chat.completions.with_raw_response.create(model=OFFLINE_MODEL_NAME, messages=messages)
    assert raw.headers["x-ratelimit-limit-requests"] == "30"
    assert raw.parse().choices[0].message.content == "offline model: hello"
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=OFFLINE_MODEL_NAME, messages=messages)
    assert info.value.status_code == 429
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.type == "rate_limit_error"
    assert info.value.response.headers["retry-after-ms"] == "2000"


def test_an_injected_failure_costs_the_limit_nothing(http: httpx.Client, control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=1.0)
    control.fail_next(1, 500)
    assert complete(http).status_code == 500
    assert complete(http).status_code == 200
    assert complete(http).status_code == 429


def test_a_bad_request_costs_the_limit_nothing(http: httpx.Client, control: OfflineModelControl) -> None:
    control.set_limits(requests_per_s=1.0)
    assert http.post("/v1/chat/completions", json={"model": "m"}).status_code == 400
    streamed = http.post(
        "/v1/chat/completions", json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert streamed.status_code == 400
    assert complete(http, "m").status_code == 200


def test_a_429_from_a_models_own_limit_states_that_models_limits(
    http: httpx.Client, control: OfflineModelControl
) -> None:
    control.set_limits(requests_per_s=0.5, model="slow-model")
    complete(http, "slow-model")
    message = complete(http, "slow-model").json()["error"]["message"]
    assert "requests_per_s=0.5" in message
