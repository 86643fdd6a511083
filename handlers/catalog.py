"""Every pattern agentpipe serves, in the order the CLI and the demo show them.

Each comes from its module's one declaration (``PATTERN``); adding a pattern is
writing its module and listing it here.
"""

from __future__ import annotations

from typing import Any

from handlers import (
    agent_routing,
    chaining,
    chat,
    evaluator_optimizer,
    human_in_the_loop,
    orchestrator,
    parallel_agents,
    parallel_tools,
    remote_agent_routing,
    tool_routing,
)
from handlers.pattern import Pattern

PATTERNS: dict[str, Pattern[Any]] = {
    module.PATTERN.name: module.PATTERN
    for module in (
        chaining,
        tool_routing,
        parallel_tools,
        agent_routing,
        remote_agent_routing,
        parallel_agents,
        orchestrator,
        evaluator_optimizer,
        human_in_the_loop,
        chat,
    )
}
