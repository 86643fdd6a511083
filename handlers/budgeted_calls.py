"""LLM calls that wait for their provider's budget: each call a journaled step, held-back calls run again.

    step ─▶ reply                                                       (model not limited: nothing else)
    step ─▶ needs-permit | rate-limited ─▶ ask the budget (awakeable) ─▶ suspended until the permit
         ─▶ step again, permitted ─▶ reply
    request ends ─▶ report to the budget: calls it did not use, tokens it really spent, the provider's headers

A permit covers the calls a request is expected to make (its pattern says how many), so a
request waits once, not before every call; a 429 is reported at once (the budget pauses).
Whether a call must ask first, and when the request's deadline falls, come from the journaled
attempts, never from this process's memory, so a replay takes the same path. A request's
deadline counts from its first wait: only waiting past it ends the request (status error,
"rate limited for 3,600 s"). Calls made together (parallel agents, orchestrator workers) ask,
run and report in lockstep, in a fixed order, so their journal does not depend on which answer
came first. With ``max_in_flight`` configured each call holds a permit (a lease) of its own
while it runs, and reports when it ends.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import restate
from restate import TerminalError

from agentpipe.flow import Priority, Queue
from agentpipe.logs import get_logger
from handlers.llm import FlowSettings, LlmAttempt, LlmReply, Message, ToolSpec, attempt_completion, llm_run_options
from handlers.provider_budget import Ask, Permit, Report, acquire, report
from handlers.provider_signals import ProviderSignals

log = get_logger(__name__)

# Held-back attempts of one call before the request fails: a provider that keeps answering 429 with
# no wait asked for must not grow a journal without end.
MAX_HELD_ATTEMPTS = 50
# What a reply is assumed to cost in tokens before the model says (the budget charges the difference).
REPLY_TOKENS_ESTIMATE = 256
RATE_LIMITED = 429  # the status code of the TerminalError that ends a request past its deadline
# A credit (a call its permit covered, not made yet) is spent within this many seconds of the
# request's last reply or go, else dropped and asked for again. A request runs its calls one after
# another without pause; a longer gap means it stalled (its process restarted, a tool or a person
# took long), and the budget's pace assumed the credit would be spent then, not now: after a restart
# every stalled request resumed at once and spent its credits together, on top of the burst the
# budget's idle bucket allowed (seen: 6-8 calls answered 429 in the same tenth of a second).
CREDIT_STALE_S = 2.0


@dataclass(frozen=True)
class LlmCall:
    step: str
    messages: list[Message]
    tools: list[ToolSpec] | None = None
    response_format: dict[str, Any] | None = None

    def estimated_tokens(self) -> int:
        text = json.dumps([self.messages, self.tools, self.response_format], ensure_ascii=False)
        return len(text) // 4 + REPLY_TOKENS_ESTIMATE


class Parked(BaseException):
    """The request's first call must wait for its model's budget, and the request may wait unstarted:
    its invocation ends and the budget starts it again when its turn comes (handlers/taker.py).

    A BaseException, so that the pattern's error handling lets it through untouched.
    """

    def __init__(self, ask: Ask, flow: FlowSettings, first_wait_at: float) -> None:
        super().__init__("parked until the model's budget admits it")
        self.ask, self.flow, self.first_wait_at = ask, flow, first_wait_at


@dataclass
class CallFlow:
    """A request's flow control, rebuilt from its journal as it replays."""

    priority: Priority
    deadline_s: float | None = None  # the request's own; the settings' applies when it is longer
    expected_calls: int = 1  # what its pattern usually makes: a permit covers that many
    held: FlowSettings | None = None  # from the first held-back attempt: from then on calls need permits
    first_wait_at: float | None = None
    clock: float = 0.0  # the latest journaled time
    permits: int = 0  # permits granted
    calls_made: int = 0  # replies received
    credits: int = 0  # calls permitted and not made yet
    # What the request's calls cost in tokens against what its permits assumed, and what the provider
    # said last: reported when the request ends.
    tokens_used: int = 0
    tokens_estimated: int = 0
    signals: ProviderSignals | None = None
    # A request from Kafka waits for its first permit parked, holding nothing, rather than suspended
    # on an awakeable: while nothing it did needs keeping (no reply, no tool run), it can start over.
    parkable: bool = False
    started: bool = False
    # The permit a parked request was admitted with; expired: its deadline passed first.
    admission: Permit | None = None
    admission_expired: bool = False

    def hold(self, attempt: LlmAttempt) -> None:
        if self.held is None and attempt.flow is not None:
            self.held, self.first_wait_at = attempt.flow, attempt.at

    @property
    def deadline(self) -> float:
        assert self.held is not None
        return min(self.held.deadline_s, self.deadline_s if self.deadline_s is not None else math.inf)

    @property
    def deadline_at(self) -> float:
        assert self.first_wait_at is not None
        return self.first_wait_at + self.deadline

    @property
    def leased(self) -> bool:
        """Each call holds a permit of its own while in flight (the budget caps calls in flight)."""
        return self.held is not None and self.held.limits.max_in_flight is not None

    def queue(self) -> Queue:
        if self.priority == "interactive":
            return "interactive"
        return "continuing" if self.permits else "batch"

    def wanted(self, now_needed: int) -> int:
        """Calls to ask one permit for, when ``now_needed`` are about to be made."""
        if self.leased:
            return 1
        return max(now_needed, self.expected_calls - self.calls_made) - self.credits


def settle(ctx: restate.Context, flow: CallFlow) -> None:
    """When a request ends: give its budget back the calls it did not make, and tell it what its calls
    really cost and what the provider said last (how the budget keeps learning without a report per call)."""
    held = flow.held
    if held is None or flow.leased:
        return
    signals = flow.signals
    tokens_matter = held.limits.tokens_per_minute is not None or (signals is not None and signals.limit_tokens)
    # Nothing to give back, no token limit to charge against, nothing new from the provider: no report
    # (most requests of a pattern that makes the calls it said it would).
    if not (flow.credits or tokens_matter or (signals is not None and signals.near_limit())):
        return
    outcome = Report(
        unused_calls=flow.credits,
        signals=flow.signals,
        tokens_used=flow.tokens_used,
        tokens_estimated=flow.tokens_estimated,
        limits=held.limits,
    )
    ctx.object_send(report, held.budget_key, outcome)
    flow.credits = flow.tokens_used = flow.tokens_estimated = 0
    flow.signals = None


@dataclass
class BudgetedCaller:
    """Runs a request's LLM calls as journaled steps, asking the model's budget where it must."""

    ctx: restate.Context
    request_id: str
    pattern: str
    model: str | None
    temperature: float | None
    flow: CallFlow
    held_attempts: dict[str, int] = field(default_factory=dict)

    async def run(self, calls: list[LlmCall]) -> list[LlmReply]:
        """The calls' replies, in order; they run concurrently."""
        flow = self.flow
        replies: dict[int, LlmReply] = {}
        todo = list(range(len(calls)))
        while todo:
            permits_before = flow.permits
            leases = await self._permit([calls[i] for i in todo]) if flow.held else None
            # Calls covered by credits carried from before are checked for staleness; calls under a
            # permit granted just now are not (a busy Restate may resume the caller late, and it is paced).
            carried = leases is not None and flow.permits == permits_before
            stale_after = flow.clock + CREDIT_STALE_S if carried else None
            futures = [self._step(calls[i], leases is not None, stale_after) for i in todo]
            if len(futures) > 1:
                await restate.gather(*futures)  # one suspension for all, not one per step
            again = []
            for n, (i, future) in enumerate(zip(todo, futures, strict=True)):
                attempt = await future
                flow.clock = max(flow.clock, attempt.at)
                if attempt.held_back is not None:
                    flow.hold(attempt)
                if attempt.held_back == "stale-permit":
                    flow.credits = 0  # the rest of its permit went stale with it (never given back: that would burst)
                self._account(calls[i], attempt, leases[n] if leases is not None else None)
                if attempt.reply is not None:
                    replies[i] = attempt.reply
                    continue
                self._count_held(calls[i], attempt)
                again.append(i)
            if again and flow.parkable and not flow.started and flow.held is not None:
                raise self._parked([calls[i] for i in again])
            todo = again
        return [replies[i] for i in range(len(calls))]

    def _step(
        self, call: LlmCall, permitted: bool, stale_after: float | None = None
    ) -> restate.RestateDurableFuture[LlmAttempt]:
        return self.ctx.run_typed(
            call.step,
            attempt_completion,
            llm_run_options(),
            call.step,
            call.messages,
            permitted=permitted,
            stale_after=stale_after,
            request_id=self.request_id,
            pattern=self.pattern,
            tools=call.tools,
            response_format=call.response_format,
            model=self.model,
            temperature=self.temperature,
        )

    def _account(self, call: LlmCall, attempt: LlmAttempt, lease: str | None) -> None:
        """Count what the attempt cost; report at once what the budget must hear now."""
        flow, held = self.flow, self.flow.held
        reply = attempt.reply
        used = reply.prompt_tokens + reply.completion_tokens if reply is not None else 0
        if reply is not None:
            flow.calls_made += 1
            flow.started = True
        if held is None:
            return
        if attempt.signals is not None:
            flow.signals = attempt.signals
        rate_limited = attempt.held_back == "rate-limited"
        if lease is None and not rate_limited:
            flow.tokens_used += used  # reported when the request ends
            return
        # A 429 pauses the budget now, and the request gives back what it holds (the refused call's
        # permit among it): its next calls must wait for the pause like everyone else's. A leased
        # call frees its place in flight now.
        unused = 1 if rate_limited and lease is not None else 0
        if rate_limited and not flow.leased:
            unused, flow.credits = flow.credits + 1, 0
        outcome = Report(
            lease=lease,
            unused_calls=unused,
            rate_limited=rate_limited,
            signals=attempt.signals,
            tokens_used=used,
            tokens_estimated=call.estimated_tokens() if lease is not None else 0,
            limits=held.limits,
        )
        self.ctx.object_send(report, held.budget_key, outcome)

    def _count_held(self, call: LlmCall, attempt: LlmAttempt) -> None:
        held = self.held_attempts[call.step] = self.held_attempts.get(call.step, 0) + 1
        log.info("llm step held back", step=call.step, reason=attempt.held_back, attempts=held)
        if held >= MAX_HELD_ATTEMPTS:
            raise TerminalError(
                f"rate limited: the model provider answered {held} attempts of '{call.step}' with 429",
                RATE_LIMITED,
            )

    def _ask(self, calls: list[LlmCall], wanted: int) -> Ask:
        flow, held = self.flow, self.flow.held
        assert held is not None
        tokens = sum(call.estimated_tokens() for call in calls) * max(1, wanted) // max(1, len(calls))
        return Ask(
            queue=flow.queue(),
            calls=wanted,
            tokens=tokens,
            deadline_at=flow.deadline_at,
            request_id=self.request_id,
            limits=held.limits,
            lease_s=held.lease_s,
        )

    def _parked(self, calls: list[LlmCall]) -> Parked:
        flow = self.flow
        assert flow.held is not None and flow.first_wait_at is not None
        return Parked(self._ask(calls, flow.wanted(len(calls))), flow.held, flow.first_wait_at)

    async def _permit(self, calls: list[LlmCall]) -> list[str | None]:
        """Permits for ``calls``: from the request's credits, else asked of the budget (waiting until
        granted, or failing at the deadline). Their leases (None: covered by a credit)."""
        flow = self.flow
        admitted, flow.admission = flow.admission, None
        if flow.admission_expired or flow.deadline_at - flow.clock <= 0:
            raise self._deadline_passed()
        if admitted is not None:
            self._granted([admitted])
        if flow.leased:
            leases: list[str | None] = [admitted.lease] if admitted is not None else []
            if len(calls) > len(leases):
                granted = await self._wait([self._ask([call], 1) for call in calls[len(leases) :]])
                leases += [permit.lease for permit in granted]
            return leases
        if flow.credits < len(calls):
            self._granted(await self._wait([self._ask(calls, flow.wanted(len(calls)))]))
        flow.credits -= len(calls)
        return [None] * len(calls)

    def _granted(self, permits: list[Permit]) -> None:
        flow = self.flow
        flow.permits += len(permits)
        flow.clock = max([flow.clock, *(permit.granted_at for permit in permits)])
        if not flow.leased:
            flow.credits += sum(permit.calls for permit in permits)
            flow.tokens_estimated += sum(permit.tokens for permit in permits)

    async def _wait(self, asks: list[Ask]) -> list[Permit]:
        """Send the asks and wait for all their permits, or fail when the deadline comes first."""
        flow, held = self.flow, self.flow.held
        assert held is not None
        awakeables = []
        for ask in asks:
            awakeable_id, awakeable = self.ctx.awakeable(type_hint=Permit)
            self.ctx.object_send(acquire, held.budget_key, ask.model_copy(update={"awakeable_id": awakeable_id}))
            awakeables.append(awakeable)
        deadline = self.ctx.sleep(timedelta(seconds=flow.deadline_at - flow.clock), name="Rate-limit deadline")
        pending: list[restate.RestateDurableFuture[Any]] = list(awakeables)
        while pending:
            done, waiting = await restate.wait_completed(deadline, *pending)
            pending = [future for future in waiting if future is not deadline]
            if deadline in done and pending:
                raise self._deadline_passed()
        return [await awakeable for awakeable in awakeables]

    def _deadline_passed(self) -> TerminalError:
        held = self.flow.held
        assert held is not None
        return TerminalError(
            f"rate limited for {self.flow.deadline:,.0f} s: the model's budget ({held.budget_key}) had no "
            "room for this request's calls before its deadline (deadline_s, AGENTPIPE_LLM_RATE_LIMIT_DEADLINE_S)",
            RATE_LIMITED,
        )
