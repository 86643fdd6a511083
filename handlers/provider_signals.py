"""What a provider's answer says about its rate limits, read from OpenAI's headers.

    retry-after-ms: 250 | retry-after: 2        how long to wait after a 429
    x-ratelimit-limit-requests: 500             requests per minute
    x-ratelimit-remaining-requests: 499
    x-ratelimit-reset-requests: 120ms | 1m30s   until the limit is whole again
    x-ratelimit-{limit,remaining,reset}-tokens  the same for tokens per minute

Every value is optional and a malformed one is ignored: a provider's header must never fail a call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from pydantic import BaseModel

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# A provider that asks for more than a day is not believed further than that.
MAX_WAIT_S = 24 * 3600.0


class ProviderSignals(BaseModel):
    retry_after_s: float | None = None
    limit_requests: float | None = None  # per minute
    remaining_requests: float | None = None
    reset_requests_s: float | None = None
    limit_tokens: float | None = None  # per minute
    remaining_tokens: float | None = None
    reset_tokens_s: float | None = None

    @property
    def any(self) -> bool:
        return any(value is not None for value in self.model_dump().values())

    def near_limit(self, share: float = 0.1) -> bool:
        """True when a limit is stated and less than ``share`` of it remains."""
        for limit, remaining in (
            (self.limit_requests, self.remaining_requests),
            (self.limit_tokens, self.remaining_tokens),
        ):
            if limit and remaining is not None and remaining < share * limit:
                return True
        return False


def parse_duration(text: str) -> float | None:
    """ "120ms", "1s", "6m0s", "1h2m3.5s", or plain seconds; None when it is none of these."""
    text = text.strip()
    if not text:
        return None
    number = _number(text)
    if number is not None:
        return number
    total, position = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match[1]) * _UNIT_S[match[2]]
        position = match.end()
    return total if position == len(text) else None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    milliseconds = _number(headers.get("retry-after-ms", ""))
    if milliseconds is not None:
        return milliseconds / 1000
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:  # an HTTP date
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def read_signals(headers: Mapping[str, str], now: float) -> ProviderSignals:
    """The signals in ``headers`` (names in lower case); durations capped at a day."""

    def duration(name: str) -> float | None:
        value = parse_duration(headers.get(name, ""))
        return None if value is None else min(value, MAX_WAIT_S)

    retry = _retry_after(headers, now)
    return ProviderSignals(
        retry_after_s=None if retry is None else min(retry, MAX_WAIT_S),
        limit_requests=_number(headers.get("x-ratelimit-limit-requests", "")) or None,
        remaining_requests=_number(headers.get("x-ratelimit-remaining-requests", "")),
        reset_requests_s=duration("x-ratelimit-reset-requests"),
        limit_tokens=_number(headers.get("x-ratelimit-limit-tokens", "")) or None,
        remaining_tokens=_number(headers.get("x-ratelimit-remaining-tokens", "")),
        reset_tokens_s=duration("x-ratelimit-reset-tokens"),
    )
