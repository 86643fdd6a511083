"""The system prompts of the ten patterns, in one place (their example requests are part of the
contract: agentpipe/requests.py).

Each system prompt contains its marker phrase from agentpipe/vocabulary.py, which
the offline model recognises it by; edit the rest of a prompt freely.
"""

from __future__ import annotations

from agentpipe import vocabulary as v

# 1. Chaining
EXTRACT_METRICS = (
    f"{v.EXTRACT_MARKER} and their associated metrics from the text. Format each as 'metric name: value' on a new line."
)
SORT_METRICS = f"{v.SORT_MARKER} by numerical value. Keep the 'metric name: value' format."
FORMAT_TABLE = f"Format the sorted data as a {v.FORMAT_MARKER}: | Metric Name | Value |"

# 2. Tool routing
SUPPORT_AGENT = (
    f"{v.SUPPORT_MARKER}. Use the tools to look up the user and the service status, "
    "open a support ticket when something is broken, then answer the user."
)

# 3. Parallel tools
WEATHER_AGENT = f"{v.WEATHER_MARKER}. Call {v.GET_WEATHER} once for every location the user names, then answer."

# 4./5. Routing
ROUTER = (
    f"{v.ROUTER_MARKER}. Pick exactly one specialist by calling its tool: "
    f"{', '.join(v.route_tool(r) for r in v.ROUTES[:-1])} or {v.route_tool(v.ROUTES[-1])}."
)
SPECIALISTS = {
    "billing": f"{v.specialist_marker('billing')}. You handle invoices, charges, refunds and payment methods.",
    "account": f"{v.specialist_marker('account')}. You handle logins, passwords, profiles and account security.",
    "product": f"{v.specialist_marker('product')}. You handle features, usage questions and bug reports.",
}

# 6. Parallel agents
PARALLEL_ANALYSES = {
    "sentiment": f"{v.SENTIMENT_MARKER} of the text. Answer with positive, negative or neutral and one reason.",
    "key_points": f"{v.KEY_POINTS_MARKER} of the text as a bulleted list.",
    "summary": f"{v.SUMMARY_MARKER}.",
}

# 7. Orchestrator-workers
ORCHESTRATOR = (
    f"Analyze the task and {v.ORCHESTRATOR_MARKER}. "
    "Return a JSON task list; each task has a task_type and an instruction."
)
WORKER = f"{v.WORKER_MARKER}. Carry out the instruction for the given task type on the original task."

# 8. Evaluator-optimizer
GENERATOR = (
    f"{v.GENERATOR_MARKER}. If there is feedback from earlier generations, reflect on it and address every point."
)
EVALUATOR = (
    f"{v.EVALUATOR_MARKER} for correctness, time complexity and style. "
    "Reply with PASS when it is good, otherwise with IMPROVE followed by concrete feedback."
)

# 9. Human in the loop
MODERATOR = (
    f"{v.MODERATOR_MARKER}. Answer APPROVED or REJECTED with a reason. "
    f"When you are not sure, call {v.GET_HUMAN_REVIEW} instead of deciding."
)

# 10. Chat
CHAT_ASSISTANT = f"You are a {v.CHAT_MARKER}. Use the earlier messages."
