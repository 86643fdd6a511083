"""What requests cost: tokens per pattern and day from the results' ``usage``, priced from settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agentpipe.messages import AgentResult
from agentpipe.settings import get_settings


@dataclass
class UsageRow:
    day: str  # YYYY-MM-DD of completed_at (UTC)
    pattern: str
    model: str
    requests: int = 0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def cost_usd(self) -> float | None:
        """From the price table in settings; None for a model it does not list."""
        price = get_settings().prices.get(self.model)
        if price is None:
            return None
        return (self.prompt_tokens * price.input + self.completion_tokens * price.output) / 1_000_000


def usage_by_day(results: Iterable[AgentResult]) -> list[UsageRow]:
    """Totals per (day, pattern, model), in that order."""
    rows: dict[tuple[str, str, str], UsageRow] = {}
    for result in results:
        key = (result.completed_at[:10] or "unknown", result.pattern, result.usage.model)
        row = rows.setdefault(key, UsageRow(*key))
        row.requests += 1
        row.llm_calls += result.usage.llm_calls
        row.prompt_tokens += result.usage.prompt_tokens
        row.completion_tokens += result.usage.completion_tokens
    return [rows[key] for key in sorted(rows)]
