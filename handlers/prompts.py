"""Prompts and example requests of the ten patterns, in one place.

The offline model answers from rules keyed on the phrases in these prompts
(and on the tools or JSON schema offered), so editing a prompt may need the
matching rule in offline_model/rules.py updated too.
"""

# 1. Chaining
EXAMPLE_REPORT = (
    "Q3 Performance Summary: Our customer satisfaction score rose to 92 points this quarter. "
    "Revenue grew by 45% compared to last year. Market share is now at 23% in our primary market. "
    "Customer churn decreased to 5% from 8%. Employee satisfaction is at 87 points. "
    "Operating margin improved to 34%."
)
EXTRACT_METRICS = (
    "Extract only the numerical values and their associated metrics from the text. "
    "Format each as 'metric name: value' on a new line."
)
SORT_METRICS = "Sort all lines in descending order by numerical value. Keep the 'metric name: value' format."
FORMAT_TABLE = "Format the sorted data as a markdown table with columns: | Metric Name | Value |"

# 2. Tool routing
EXAMPLE_SUPPORT_QUESTION = "My API calls keep failing with errors since this morning. What is wrong with my account?"
SUPPORT_AGENT = (
    "You are a customer support agent. Use the tools to look up the user and the service status, "
    "open a support ticket when something is broken, then answer the user."
)

# 3. Parallel tools
EXAMPLE_WEATHER_QUESTION = "What is the weather like in Berlin, Tokyo and New York right now?"
WEATHER_AGENT = "You are a weather assistant. Call get_weather once for every location the user names, then answer."

# 4./5. Routing
EXAMPLE_ROUTING_QUESTION = "I was charged twice on my last invoice, can I get a refund?"
ROUTER = (
    "You are a router for customer questions. Pick exactly one specialist by calling its tool: "
    "billing_agent, account_agent or product_agent."
)
SPECIALISTS = {
    "billing": "You are the billing specialist. You handle invoices, charges, refunds and payment methods.",
    "account": "You are the account specialist. You handle logins, passwords, profiles and account security.",
    "product": "You are the product specialist. You handle features, usage questions and bug reports.",
}

# 6. Parallel agents
EXAMPLE_REVIEW = (
    "The new release is fantastic. Setup took five minutes and the dashboard is much faster. "
    "Support answered my question within an hour. I only wish the export had more formats."
)
PARALLEL_ANALYSES = {
    "sentiment": "Analyze the sentiment of the text. Answer with positive, negative or neutral and one reason.",
    "key_points": "Extract the three key points of the text as a bulleted list.",
    "summary": "Summarize the text in one sentence.",
}

# 7. Orchestrator-workers
EXAMPLE_PRODUCT_TEXT = "Write a product description for a new eco-friendly water bottle."
ORCHESTRATOR = (
    "Analyze the task and break it down into distinct approaches. "
    "Return a JSON task list; each task has a task_type and an instruction."
)
WORKER = "You are a worker. Carry out the instruction for the given task type on the original task."

# 8. Evaluator-optimizer
EXAMPLE_CODING_TASK = "Implement a Stack with push, pop and get_min, all in O(1) time."
GENERATOR = (
    "Your goal is to complete the task. If there is feedback from earlier generations, "
    "reflect on it and address every point."
)
EVALUATOR = (
    "Evaluate the solution for correctness, time complexity and style. "
    "Reply with PASS when it is good, otherwise with IMPROVE followed by concrete feedback."
)

# 9. Human in the loop
EXAMPLE_CONTENT = "This borderline post jokes about skipping taxes; it might be satire or might be advice."
MODERATOR = (
    "You are a content moderator. Answer APPROVED or REJECTED with a reason. "
    "When you are not sure, call get_human_review instead of deciding."
)

# 10. Chat
EXAMPLE_CHAT_MESSAGE = "Hello! What can you do?"
CHAT_ASSISTANT = "You are a helpful assistant in an ongoing conversation. Use the earlier messages."
