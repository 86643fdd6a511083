"""Rate limits of the offline model (a deterministic stand-in for a real LLM), enforced the way
OpenAI enforces its own, so agentpipe's flow control can be tested against a limited provider.

Per model, two token buckets: requests (``requests_per_s``, holding ``burst_s`` seconds of them)
and tokens (``tokens_per_min``, holding ``burst_s`` seconds of them, at least one call's worth).
A call that finds either bucket short is answered 429 ``rate_limit_exceeded`` with the headers a
client learns from: ``retry-after`` (whole seconds, rounded up), ``retry-after-ms``, and on every
answer ``x-ratelimit-limit-*`` (per minute, as OpenAI states them), ``x-ratelimit-remaining-*``
(in the same per-minute terms: what is left of the bucket, as a share of the limit) and
``x-ratelimit-reset-*`` ("1s", "20ms", "1m30s": until the bucket is full again).
A refused call takes nothing from the buckets, as with OpenAI.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_RATE = 1e9


@dataclass(frozen=True)
class RateLimits:
    requests_per_s: float | None = None  # None: no request limit
    tokens_per_min: float | None = None  # None: no token limit
    burst_s: float = 1.0  # how many seconds of each rate a bucket holds when full

    def __post_init__(self) -> None:
        for name in ("requests_per_s", "tokens_per_min"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not 0 < value <= MAX_RATE):
                raise ValueError(f"{name} must be a positive number up to {MAX_RATE:g}, or null")
        if not (self.burst_s > 0 and math.isfinite(self.burst_s)):
            raise ValueError("burst_s must be a positive number")

    @property
    def active(self) -> bool:
        return self.requests_per_s is not None or self.tokens_per_min is not None


def format_reset(seconds: float) -> str:
    """OpenAI's duration form for x-ratelimit-reset-*: "20ms", "1s", "6m0s", "1h2m3s"."""
    milliseconds = max(1, math.ceil(round(seconds * 1000, 6)))
    if milliseconds < 1000:
        return f"{milliseconds}ms"
    whole = math.ceil(milliseconds / 1000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@dataclass
class Bucket:
    """``capacity`` tokens, refilled at ``rate`` per second; starts full."""

    rate: float
    capacity: float
    level: float = field(default=math.nan)
    at: float = 0.0

    def refill(self, now: float) -> None:
        if math.isnan(self.level):
            self.level, self.at = self.capacity, now
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def short_by(self, amount: float) -> float:
        """Seconds until ``amount`` is there (0 when it is); a want above capacity waits for a full bucket."""
        missing = min(amount, self.capacity) - self.level
        return max(0.0, missing / self.rate)

    def reset_s(self) -> float:
        return (self.capacity - self.level) / self.rate


@dataclass
class Verdict:
    allowed: bool
    retry_after_s: float
    headers: dict[str, str]
    limited_by: str | None = None  # "requests" or "tokens" when refused


class ModelLimiter:
    """One model's buckets."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.requests = (
            Bucket(limits.requests_per_s, max(1.0, limits.requests_per_s * limits.burst_s))
            if limits.requests_per_s
            else None
        )
        per_s = limits.tokens_per_min / 60 if limits.tokens_per_min else None
        self.tokens = Bucket(per_s, max(1.0, per_s * limits.burst_s)) if per_s else None

    def take(self, now: float, tokens: int) -> Verdict:
        waits = {}
        for name, bucket, want in (("requests", self.requests, 1.0), ("tokens", self.tokens, float(tokens))):
            if bucket is not None:
                bucket.refill(now)
                waits[name] = bucket.short_by(want)
        limited_by = max(waits, key=lambda name: waits[name]) if any(waits.values()) else None
        if limited_by is None:
            if self.requests is not None:
                self.requests.level -= 1.0
            if self.tokens is not None:
                self.tokens.level -= min(float(tokens), self.tokens.capacity)
        retry_after = waits[limited_by] if limited_by else 0.0
        return Verdict(limited_by is None, retry_after, self.headers(retry_after), limited_by)

    def headers(self, retry_after_s: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket, per_minute in (
            ("requests", self.requests, (self.limits.requests_per_s or 0) * 60),
            ("tokens", self.tokens, self.limits.tokens_per_min or 0),
        ):
            if bucket is None:
                continue
            headers[f"x-ratelimit-limit-{name}"] = str(max(1, round(per_minute)))
            # Whole calls (tokens) left in the bucket, as a share of the limit per minute.
            remaining = max(0, math.floor(round(bucket.level, 6))) / bucket.capacity * per_minute
            headers[f"x-ratelimit-remaining-{name}"] = str(math.floor(round(remaining, 6)))
            headers[f"x-ratelimit-reset-{name}"] = format_reset(bucket.reset_s())
        if retry_after_s > 0:
            headers["retry-after"] = str(max(1, math.ceil(retry_after_s)))
            headers["retry-after-ms"] = str(max(1, math.ceil(round(retry_after_s * 1000, 6))))
        return headers


class Limiter:
    """The limits models are held to, each model with its own buckets (as a provider does): the limits
    set for that model, else the ones set for every model."""

    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        self.per_model: dict[str, RateLimits] = {}
        self._models: dict[str, ModelLimiter] = {}
        self.allowed = 0
        self.refused = 0

    def configure(self, limits: RateLimits, model: str | None = None) -> None:
        if model is None:
            self.limits = limits
            self._models.clear()
        else:
            self.per_model[model] = limits
            self._models.pop(model, None)

    def reset(self, limits: RateLimits) -> None:
        self.per_model.clear()
        self.configure(limits)

    def limits_for(self, model: str) -> RateLimits:
        return self.per_model.get(model, self.limits)

    def take(self, model: str, now: float, tokens: int) -> Verdict | None:
        """None when the model has no limit; else whether the call may go ahead, and the headers to answer with."""
        limits = self.limits_for(model)
        if not limits.active:
            return None
        limiter = self._models.get(model)
        if limiter is None:
            limiter = self._models[model] = ModelLimiter(limits)
        verdict = limiter.take(now, tokens)
        if verdict.allowed:
            self.allowed += 1
        else:
            self.refused += 1
        return verdict

    def state(self) -> dict[str, Any]:
        return {
            **asdict(self.limits),
            "models": {model: asdict(limits) for model, limits in self.per_model.items()},
            "allowed": self.allowed,
            "refused": self.refused,
        }
