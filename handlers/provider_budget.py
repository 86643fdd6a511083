"""A provider budget: one Virtual Object per provider and model that hands out permits for LLM calls.

    caller: awakeable ──acquire──▶ ProviderBudget[<provider>/<model>]: room now? resolve it
                                                                      : else queue it; tick when room is due
    caller: (suspended on the awakeable) ◀── permit ── tick / a report that frees room
    caller: the LLM step ──report──▶ free the lease, learn the provider's limits, pause after a 429

Every agent-service process and node asks the same object, so one budget holds
across all of them. Waiting is durable and costs no invoker slot: the caller
suspends on its awakeable, and the budget wakes itself with a delayed ``tick``
when the next permit is due. Waiters are served by queue (interactive, then
the further calls of batch requests, then new batch requests), first come
first served within one; a waiter whose deadline has passed is dropped (its
caller has given up already). Each waiter is a state entry of its own, read only
when its turn comes, so a queue of ten thousand costs one state read per permit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import restate
from pydantic import BaseModel

from agentpipe.flow import BUDGET_STATE, PROVIDER_BUDGET, QUEUES, BudgetLimits, BudgetState, Queue
from handlers import budget_policy as policy
from handlers.llm import FlowSettings
from handlers.policies import invocation_retry_policy
from handlers.provider_signals import ProviderSignals

# A tick is not scheduled sooner than this: permits due within it go out together, a few at a time
# (well inside a provider's burst), rather than each in an invocation of the budget's own.
MIN_TICK_S = 0.25


class AdmitTarget(BaseModel):
    """Where a parked request's permit goes: the handler that starts it (handlers/taker.py)."""

    service: str
    handler: str
    key: str


class Parking(BaseModel):
    """A request that waits for its permit before it starts: where the permit goes, and what the
    request needs to start then. It travels with the permit, so nothing else holds it meanwhile."""

    target: AdmitTarget
    request: dict[str, Any]  # what the intake handed on (handlers/intake.HandedRequest, as JSON)
    flow: FlowSettings
    claimed: bool = False  # its id is claimed already (held back by a limit learned after the claim)


class Ask(BaseModel):
    """A call asks for a permit: the answer resolves ``awakeable_id`` with a ``Permit``, or for a
    parked request goes to its ``parking`` target as an ``Admitted`` (also when its deadline passes first)."""

    awakeable_id: str | None = None
    parking: Parking | None = None
    queue: Queue
    calls: int = 1  # how many calls the permit is to cover (made one after another, or at once)
    tokens: int  # the calls' estimated tokens in all (prompts and replies)
    # Epoch seconds after which the caller no longer waits; an asker without a clock gives
    # deadline_s, counted from when the budget takes the ask.
    deadline_at: float | None = None
    deadline_s: float | None = None
    request_id: str
    limits: BudgetLimits  # as configured where the call runs
    lease_s: float


class Permit(BaseModel):
    lease: str
    calls: int = 1  # how many calls it covers
    tokens: int = 0  # the tokens the budget charged for them (the request settles the difference)
    waited_s: float
    granted_at: float = 0.0  # the budget's clock (epoch seconds): a caller's journaled "now"


class Admitted(BaseModel):
    """What a parked request gets when its turn comes: a permit, or none because its deadline passed."""

    permit: Permit | None = None
    parking: Parking
    first_wait_at: float  # when it started to wait (its deadline counts from then)


class Report(BaseModel):
    """How a permitted (or rate-limited) call went, or what a request did not use of its permits."""

    lease: str | None = None
    unused_calls: int = 0
    rate_limited: bool = False
    signals: ProviderSignals | None = None
    tokens_used: int = 0
    tokens_estimated: int = 0
    limits: BudgetLimits


class Waiter(BaseModel):
    awakeable_id: str | None = None
    parking: Parking | None = None
    calls: int = 1
    tokens: int
    deadline_at: float
    asked_at: float
    request_id: str


def waiter_key(queue: str, seq: int) -> str:
    return f"waiter:{queue}:{seq:012d}"


budget = restate.VirtualObject(
    PROVIDER_BUDGET,
    ingress_private=True,
    invocation_retry_policy=invocation_retry_policy(),
    # No state comes with an invocation (a queue of waiters would, whole): each entry is read when needed.
    enable_lazy_state=True,
)


async def _load(ctx: restate.ObjectContext, limits: BudgetLimits | None) -> tuple[BudgetState, float]:
    stored, clock = ctx.get(BUDGET_STATE, type_hint=BudgetState), ctx.time()
    await restate.gather(stored, clock)  # type: ignore[arg-type]  # both asked at once: one round trip
    state, now = await stored or BudgetState(), await clock
    if limits is not None:
        state.limits = limits
    policy.refill(state, now)
    return state, now


def _grant(ctx: restate.ObjectContext, state: BudgetState, now: float, waiter: Waiter, lease_s: float) -> None:
    lease = policy.take(state, now, waiter.tokens, ctx.key(), lease_s, waiter.calls)
    waited = max(0.0, now - waiter.asked_at)
    state.waited_s += waited
    permit = Permit(lease=lease, calls=waiter.calls, tokens=waiter.tokens, waited_s=waited, granted_at=now)
    if waiter.awakeable_id is not None:
        ctx.resolve_awakeable(waiter.awakeable_id, permit)
    else:
        _admit(ctx, waiter, permit)


def _admit(ctx: restate.ObjectContext, waiter: Waiter, permit: Permit | None) -> None:
    """Start a parked request: with a permit, or without one when its deadline passed in the queue."""
    assert waiter.parking is not None
    target = waiter.parking.target
    admitted = Admitted(permit=permit, parking=waiter.parking, first_wait_at=waiter.asked_at)
    # By name: the parked request's handler lives with its claim (RequestIds), which depends on this module.
    ctx.generic_send(target.service, target.handler, admitted.model_dump_json().encode(), key=target.key)


async def _serve(ctx: restate.ObjectContext, state: BudgetState, now: float, lease_s: float) -> None:
    """Grant permits from the queues' heads, in queue order, while there is room; then, if some
    still wait for time to pass (not for a release), make sure a tick comes when room is due."""
    for queue in QUEUES:
        ends = state.queues[queue]
        while ends.head < ends.tail:
            key = waiter_key(queue, ends.head)
            waiter = await ctx.get(key, type_hint=Waiter)
            if waiter is not None and waiter.deadline_at > now:
                wait = policy.wait_s(state, now, waiter.tokens, waiter.calls)
                if wait is None or wait > 0:
                    _wake_when_room(ctx, state, now, wait)
                    return
                _grant(ctx, state, now, waiter, lease_s)
            elif waiter is not None:
                state.expired += 1
                if waiter.parking is not None:  # nobody waits on it: the parked request must hear it
                    _admit(ctx, waiter, None)
            ctx.clear(key)
            ends.head += 1


def _wake_when_room(ctx: restate.ObjectContext, state: BudgetState, now: float, wait: float | None) -> None:
    """A tick when time makes room; when only a release can, when the first lease lapses unreleased
    (its holder may have been killed: a report would never come)."""
    due = now + wait if wait is not None else policy.next_lapse(state)
    if due is not None:
        _tick_at(ctx, state, now, due)


def _tick_at(ctx: restate.ObjectContext, state: BudgetState, now: float, due: float) -> None:
    due = max(due, now + MIN_TICK_S)
    if state.tick_at is not None and state.tick_at <= due:
        # One is coming no later than that (or is due already, queued behind other calls of this
        # object: another would only queue behind it, and a flood of asks would make thousands).
        return
    state.tick_at = due
    ctx.object_send(tick, ctx.key(), None, send_delay=timedelta(seconds=due - now))


def _save(ctx: restate.ObjectContext, state: BudgetState, now: float) -> None:
    state.updated_at = now
    ctx.set(BUDGET_STATE, state)


@budget.handler()
async def acquire(ctx: restate.ObjectContext, ask: Ask) -> None:
    """Grant at once when nobody waits ahead and there is room; else queue the caller."""
    state, now = await _load(ctx, ask.limits)
    ahead = sum(state.queues[q].length for q in QUEUES[: QUEUES.index(ask.queue) + 1])
    deadline_at = ask.deadline_at if ask.deadline_at is not None else now + (ask.deadline_s or 0.0)
    waiter = Waiter(
        awakeable_id=ask.awakeable_id,
        parking=ask.parking,
        calls=ask.calls,
        tokens=ask.tokens,
        deadline_at=deadline_at,
        asked_at=now,
        request_id=ask.request_id,
    )
    if ahead == 0 and policy.wait_s(state, now, ask.tokens, ask.calls) == 0:
        _grant(ctx, state, now, waiter, ask.lease_s)
    else:
        ends = state.queues[ask.queue]
        ctx.set(waiter_key(ask.queue, ends.tail), waiter)
        ends.tail += 1
        room = policy.wait_s(state, now, 0)
        if room == 0:
            await _serve(ctx, state, now, ask.lease_s)
        else:  # no room for anyone: no waiter needs reading (a backlog's asks cost no state reads)
            _wake_when_room(ctx, state, now, room)
    state.lease_s = ask.lease_s
    _save(ctx, state, now)


@budget.handler()
async def report(ctx: restate.ObjectContext, outcome: Report) -> None:
    """A call ended: free its lease, charge its tokens, learn from the provider's answer, serve waiters."""
    state, now = await _load(ctx, outcome.limits)
    policy.release(state, outcome.lease, outcome.tokens_used, outcome.tokens_estimated, outcome.unused_calls)
    policy.learn(state, now, outcome.signals, outcome.rate_limited)
    await _serve(ctx, state, now, state.lease_s)
    _save(ctx, state, now)


@budget.handler()
async def tick(ctx: restate.ObjectContext) -> None:
    """Room is due: serve the waiters."""
    state, now = await _load(ctx, None)
    if state.tick_at is not None and state.tick_at <= now + MIN_TICK_S:
        state.tick_at = None
    await _serve(ctx, state, now, state.lease_s)
    _save(ctx, state, now)
