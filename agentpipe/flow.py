"""Flow control's shared vocabulary: request priorities, provider budgets and what a budget keeps.

A provider budget is one Restate Virtual Object per provider and model
(``ProviderBudget[<provider>/<model>]``, handlers/provider_budget.py) that every
LLM call of every agent-service process asks for a permit when the model is
limited. Its state is read by ``agentpipe status`` through Restate's SQL API,
so the model of that state lives here, in the layer the client may import.
"""

from __future__ import annotations

import math
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator

PROVIDER_BUDGET = "ProviderBudget"
# How long a limit the provider stated in its headers holds when it stops stating it.
STATED_FOR_S = 600.0
# The state key of a budget's own state (its waiters have keys of their own).
BUDGET_STATE = "budget"

Priority = Literal["interactive", "batch"]
# A budget serves its waiters in this order: interactive calls, then calls of batch requests that
# already made one (finishing requests before starting new ones), then the first calls of batch requests.
Queue = Literal["interactive", "continuing", "batch"]
QUEUES: tuple[Queue, ...] = ("interactive", "continuing", "batch")


class BudgetLimits(BaseModel):
    """A provider's limits for one model, as configured (AGENTPIPE_LLM_BUDGETS); None: not limited that way."""

    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_in_flight: int | None = Field(default=None, ge=1)
    # How many seconds of the rates may be spent at once after a quiet spell.
    burst_s: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def _finite(self) -> BudgetLimits:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be finite")
        return self

    @property
    def limited(self) -> bool:
        return any(v is not None for v in (self.requests_per_minute, self.tokens_per_minute, self.max_in_flight))


def provider_name(base_url: str | None) -> str:
    """The provider part of a budget key: the endpoint's host and port ("api.openai.com" for the default)."""
    if not base_url:
        return "api.openai.com"
    parts = urlsplit(base_url)
    return parts.netloc or base_url


def budget_key(base_url: str | None, model: str) -> str:
    return f"{provider_name(base_url)}/{model}"


def effective_priority(priority: Priority | None, replay_of: str | None) -> Priority:
    """A request's priority: as given, else batch for a replayed request and interactive for the rest."""
    if priority is not None:
        return priority
    return "batch" if replay_of else "interactive"


class Bucket(BaseModel):
    """A token bucket's level at ``at`` (epoch seconds)."""

    level: float = 0.0
    at: float = 0.0


class Learned(BaseModel):
    """What the provider's answers said about its limits."""

    requests_per_minute: float | None = None  # x-ratelimit-limit-requests
    tokens_per_minute: float | None = None  # x-ratelimit-limit-tokens
    stated_at: float = 0.0  # when a provider last stated them; forgotten STATED_FOR_S after
    # Without limit headers, 429s set a rate of our own: halved on each 429, raised 10 % per quiet 10 s.
    probed_per_s: float | None = None
    probed_at: float = 0.0
    # Permits granted since window_at: the rate a first 429 halves.
    window_at: float = 0.0
    window_granted: int = 0


class QueueEnds(BaseModel):
    """A waiters' queue: seq numbers head (next to serve) .. tail (next free)."""

    head: int = 0
    tail: int = 0

    @property
    def length(self) -> int:
        return self.tail - self.head


class BudgetState(BaseModel):
    """One budget's state (Restate state ``budget`` of ``ProviderBudget[<key>]``)."""

    limits: BudgetLimits = Field(default_factory=BudgetLimits)  # as configured, from the latest ask
    learned: Learned = Field(default_factory=Learned)
    requests: Bucket = Field(default_factory=Bucket)
    tokens: Bucket = Field(default_factory=Bucket)
    started: bool = False  # the buckets were filled once
    paused_until: float = 0.0  # no permit before this (a 429's retry-after)
    in_flight: dict[str, float] = Field(default_factory=dict)  # lease -> when it lapses unreleased
    queues: dict[str, QueueEnds] = Field(default_factory=lambda: {str(q): QueueEnds() for q in QUEUES})
    next_lease: int = 0
    lease_s: float = 600.0  # how long a permit granted from the queue lasts unreported (the longest asked)
    tick_at: float | None = None  # a tick is scheduled for then
    # Counters since the budget was made.
    granted: int = 0
    expired: int = 0  # waiters whose deadline passed before their turn
    rate_limited: int = 0  # 429 answers reported
    waited_s: float = 0.0  # summed over granted permits
    updated_at: float = 0.0

    def waiting(self) -> int:
        return sum(q.length for q in self.queues.values())
