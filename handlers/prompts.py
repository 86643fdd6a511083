"""Prompts and example requests of the ten patterns, in one place.

Each system prompt contains its marker phrase from agentpipe/vocabulary.py, which
the offline model recognises it by; edit the rest of a prompt freely.
"""

from __future__ import annotations

from agentpipe import vocabulary as v

# 1. Chaining
EXAMPLE_REPORT = (
    "Q3 Performance Summary: Our customer satisfaction score rose to 92 points this quarter. "
    "Revenue grew by 45% compared to last year. Market share is now at 23% in our primary market. "
    "Customer churn decreased to 5% from 8%. Employee satisfaction is at 87 points. "
    "Operating margin improved to 34%."
)
EXTRACT_METRICS = (
    f"{v.EXTRACT_MARKER} and their associated metrics from the text. Format each as 'metric name: value' on a new line."
)
SORT_METRICS = f"{v.SORT_MARKER} by numerical value. Keep the 'metric name: value' format."
FORMAT_TABLE = f"Format the sorted data as a {v.FORMAT_MARKER}: | Metric Name | Value |"

# 2. Tool routing
EXAMPLE_SUPPORT_QUESTION = "My API calls keep failing with errors since this morning. What is wrong with my account?"
SUPPORT_AGENT = (
    f"{v.SUPPORT_MARKER}. Use the tools to look up the user and the service status, "
    "open a support ticket when something is broken, then answer the user."
)

# 3. Parallel tools
EXAMPLE_WEATHER_QUESTION = "What is the weather like in Berlin, Tokyo and New York right now?"
WEATHER_AGENT = f"{v.WEATHER_MARKER}. Call {v.GET_WEATHER} once for every location the user names, then answer."

# 4./5. Routing
EXAMPLE_ROUTING_QUESTION = "I was charged twice on my last invoice, can I get a refund?"
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
EXAMPLE_REVIEW = (
    "The new release is fantastic. Setup took five minutes and the dashboard is much faster. "
    "Support answered my question within an hour. I only wish the export had more formats."
)
PARALLEL_ANALYSES = {
    "sentiment": f"{v.SENTIMENT_MARKER} of the text. Answer with positive, negative or neutral and one reason.",
    "key_points": f"{v.KEY_POINTS_MARKER} of the text as a bulleted list.",
    "summary": f"{v.SUMMARY_MARKER}.",
}

# 7. Orchestrator-workers
EXAMPLE_PRODUCT_TEXT = "Write a product description for a new eco-friendly water bottle."
ORCHESTRATOR = (
    f"Analyze the task and {v.ORCHESTRATOR_MARKER}. "
    "Return a JSON task list; each task has a task_type and an instruction."
)
WORKER = f"{v.WORKER_MARKER}. Carry out the instruction for the given task type on the original task."

# 8. Evaluator-optimizer
EXAMPLE_CODING_TASK = "Implement a Stack with push, pop and get_min, all in O(1) time."
GENERATOR = (
    f"{v.GENERATOR_MARKER}. If there is feedback from earlier generations, reflect on it and address every point."
)
EVALUATOR = (
    f"{v.EVALUATOR_MARKER} for correctness, time complexity and style. "
    "Reply with PASS when it is good, otherwise with IMPROVE followed by concrete feedback."
)

# 9. Human in the loop
EXAMPLE_CONTENT = "This borderline post jokes about skipping taxes; it might be satire or might be advice."
MODERATOR = (
    f"{v.MODERATOR_MARKER}. Answer APPROVED or REJECTED with a reason. "
    f"When you are not sure, call {v.GET_HUMAN_REVIEW} instead of deciding."
)

# 10. Chat
EXAMPLE_CHAT_MESSAGE = "Hello! What can you do?"
CHAT_ASSISTANT = f"You are a {v.CHAT_MARKER}. Use the earlier messages."
