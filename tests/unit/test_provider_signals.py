"""What a provider's headers say about its rate limits (handlers/provider_signals.py).

``parse_duration`` reads OpenAI's reset durations ("120ms", "6m0s", "1h2m3.5s") and plain seconds;
``read_signals`` reads retry-after-ms, retry-after (seconds or an HTTP date) and the
x-ratelimit-* headers into ProviderSignals, ignoring what is malformed and believing no wait
longer than a day; ``near_limit`` says when little of a stated limit remains. The last tests
read the headers the offline model writes (offline_model/limits.py), so the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from handlers.provider_signals import MAX_WAIT_S, ProviderSignals, parse_duration, read_signals
from offline_model.limits import ModelLimiter, RateLimits, format_reset

NOW = 1_700_000_000.0

# -- parse_duration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("120ms", 0.12),
        ("1s", 1.0),
        ("0s", 0.0),
        ("6m0s", 360.0),
        ("1m30s", 90.0),
        ("1h2m3.5s", 3723.5),
        ("2h", 7200.0),
        ("1.5m", 90.0),
        ("1m5ms", 60.005),
        ("17.28s", 17.28),
        ("2", 2.0),  # plain seconds
        ("0.25", 0.25),
        (" 1s ", 1.0),
        ("\t3\n", 3.0),
    ],
)
def test_parse_duration_reads_openai_durations_and_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "soon",
        "s",
        "ms",
        "1 s",  # no space between number and unit
        "1x",
        "1d",
        "1S",
        "-1",
        "-1s",
        "1s2",
        "1s-",
        "x1s",
        "1.5.2s",
        ".5s",
        "inf",
        "nan",
        "-inf",
    ],
)
def test_parse_duration_gives_none_for_anything_else(text: str) -> None:
    assert parse_duration(text) is None


# -- read_signals ----------------------------------------------------------------------------------------


def test_no_headers_say_nothing() -> None:
    signals = read_signals({}, NOW)
    assert signals == ProviderSignals()
    assert not signals.any
    assert not signals.near_limit()


def test_openais_headers_are_read_in_full() -> None:
    signals = read_signals(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-tokens": "6m0s",
            "retry-after-ms": "250",
            "content-type": "application/json",
        },
        NOW,
    )
    assert signals == ProviderSignals(
        retry_after_s=0.25,
        limit_requests=500.0,
        remaining_requests=499.0,
        reset_requests_s=0.12,
        limit_tokens=30000.0,
        remaining_tokens=29000.0,
        reset_tokens_s=360.0,
    )
    assert signals.any


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert read_signals({"retry-after-ms": "250", "retry-after": "2"}, NOW).retry_after_s == 0.25


@pytest.mark.parametrize("value, seconds", [("2", 2.0), ("1.5", 1.5), (" 3 ", 3.0), ("0", 0.0)])
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert read_signals({"retry-after": value}, NOW).retry_after_s == seconds


@pytest.mark.parametrize("bad", ["", "soon", "-5", "nan", "inf"])
def test_a_malformed_retry_after_ms_falls_back_to_retry_after(bad: str) -> None:
    assert read_signals({"retry-after-ms": bad, "retry-after": "2"}, NOW).retry_after_s == 2.0
    assert read_signals({"retry-after-ms": bad}, NOW).retry_after_s is None


def test_retry_after_as_an_http_date_is_the_time_until_then() -> None:
    then = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert then.endswith(" GMT")
    assert read_signals({"retry-after": then}, NOW).retry_after_s == pytest.approx(30.0)


def test_retry_after_as_a_date_gone_by_is_no_wait() -> None:
    then = format_datetime(datetime.fromtimestamp(NOW - 300, UTC), usegmt=True)
    assert read_signals({"retry-after": then}, NOW).retry_after_s == 0.0


@pytest.mark.parametrize("bad", ["soon", "-5", "Mon, 99 Foo 2024 99:99:99 GMT", "inf", "1s", "   "])
def test_a_malformed_retry_after_is_ignored(bad: str) -> None:
    assert read_signals({"retry-after": bad}, NOW).retry_after_s is None


def test_malformed_values_are_ignored_one_by_one() -> None:
    signals = read_signals(
        {
            "x-ratelimit-limit-requests": "lots",
            "x-ratelimit-remaining-requests": "-1",
            "x-ratelimit-reset-requests": "later",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "nan",
            "x-ratelimit-reset-tokens": "1s",
            "retry-after": "whenever",
        },
        NOW,
    )
    assert signals == ProviderSignals(limit_tokens=30000.0, reset_tokens_s=1.0)


def test_a_limit_of_zero_states_no_limit_but_zero_remaining_is_kept() -> None:
    signals = read_signals({"x-ratelimit-limit-requests": "0", "x-ratelimit-remaining-requests": "0"}, NOW)
    assert signals.limit_requests is None
    assert signals.remaining_requests == 0.0
    assert signals.any


def test_header_names_are_expected_in_lower_case() -> None:
    assert read_signals({"Retry-After": "2", "X-RateLimit-Limit-Requests": "500"}, NOW) == ProviderSignals()


@pytest.mark.parametrize(
    "headers, field",
    [
        ({"retry-after-ms": "999999999999"}, "retry_after_s"),
        ({"retry-after": "1e9"}, "retry_after_s"),
        ({"x-ratelimit-reset-requests": "48h"}, "reset_requests_s"),
        ({"x-ratelimit-reset-tokens": "100000000"}, "reset_tokens_s"),
        ({"x-ratelimit-reset-tokens": "9" * 400 + "s"}, "reset_tokens_s"),  # overflows to inf
    ],
)
def test_waits_are_capped_at_a_day(headers: dict[str, str], field: str) -> None:
    assert getattr(read_signals(headers, NOW), field) == MAX_WAIT_S == 24 * 3600.0


def test_a_retry_after_date_far_ahead_is_capped_at_a_day() -> None:
    then = format_datetime(datetime.fromtimestamp(NOW + 30 * 24 * 3600, UTC), usegmt=True)
    assert read_signals({"retry-after": then}, NOW).retry_after_s == MAX_WAIT_S


def test_a_day_is_believed_in_full() -> None:
    assert read_signals({"retry-after": "86400"}, NOW).retry_after_s == 86400.0
    assert read_signals({"x-ratelimit-reset-requests": "23h59m59s"}, NOW).reset_requests_s == 86399.0


# -- near_limit ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signals, near",
    [
        (ProviderSignals(limit_requests=500, remaining_requests=49), True),
        (ProviderSignals(limit_requests=500, remaining_requests=50), False),  # exactly a tenth is not below it
        (ProviderSignals(limit_requests=500, remaining_requests=0), True),
        (ProviderSignals(limit_tokens=30000, remaining_tokens=2999), True),
        (ProviderSignals(limit_tokens=30000, remaining_tokens=3000), False),
        (ProviderSignals(limit_requests=500, remaining_requests=400, limit_tokens=1000, remaining_tokens=10), True),
        (ProviderSignals(remaining_requests=0), False),  # no limit stated: nothing to be near
        (ProviderSignals(limit_requests=500), False),  # nothing said of what remains
        (ProviderSignals(retry_after_s=5.0), False),
    ],
)
def test_near_limit_is_less_than_a_tenth_of_a_stated_limit_left(signals: ProviderSignals, near: bool) -> None:
    assert signals.near_limit() is near


def test_near_limit_takes_another_share() -> None:
    signals = ProviderSignals(limit_requests=100, remaining_requests=40)
    assert not signals.near_limit()
    assert signals.near_limit(share=0.5)
    assert not signals.near_limit(share=0.4)


# -- the offline model's headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.0, 0.001, 0.12, 0.9994, 1.0, 1.2, 59.5, 90.0, 359.9, 3723.5, 86399.0])
def test_every_reset_the_offline_model_writes_parses_to_no_less_than_it_meant(seconds: float) -> None:
    parsed = parse_duration(format_reset(seconds))
    assert parsed is not None
    assert seconds <= parsed + 1e-9
    assert parsed - seconds <= (0.001 if seconds < 1 else 1.0)


def test_the_offline_models_429_reads_back_as_what_it_meant() -> None:
    limiter = ModelLimiter(RateLimits(requests_per_s=0.5, tokens_per_min=600.0))
    limiter.take(0.0, 1)
    refused = limiter.take(0.5, 1)
    assert not refused.allowed
    signals = read_signals(refused.headers, NOW)
    assert signals == ProviderSignals(
        retry_after_s=1.5,
        limit_requests=30.0,
        remaining_requests=0.0,
        reset_requests_s=2.0,  # 1.5 s, in whole seconds rounded up
        limit_tokens=600.0,
        remaining_tokens=600.0,  # the bucket is full again: the whole limit, per minute
        reset_tokens_s=0.001,  # full: the shortest duration it writes
    )
    assert signals.near_limit()
