"""Reply rules of the offline model: a deterministic stand-in for a real LLM.

``reply(body)`` picks an answer from the messages, the tools offered and the
response_format of a Chat Completions request. Rules are pure functions of
the request (no randomness, no clock, no headers), so the same request always
gets the same reply. Tools and JSON schemas are checked first, then the
system prompt's phrases, then a generic echo.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from agentpipe import vocabulary as v
from offline_model import metrics
from offline_model.conversation import (
    Conversation,
    brief,
    clip,
    conversation,
    field_value,
    first_line,
    first_sentence,
    instance_of,
    parse_json,
)
from offline_model.places import find_cities

# The marker phrases and tool names the handlers use, from the one module both read.
PHRASES = {
    "extract": v.EXTRACT_MARKER,
    "sort": v.SORT_MARKER,
    "format": v.FORMAT_MARKER,
    "sentiment": v.SENTIMENT_MARKER,
    "key_points": v.KEY_POINTS_MARKER,
    "summary": v.SUMMARY_MARKER,
    "worker": v.WORKER_MARKER,
    "generator": v.GENERATOR_MARKER,
    "evaluator": v.EVALUATOR_MARKER,
    "moderator": v.MODERATOR_MARKER,
    "chat": v.CHAT_MARKER,
}
ROUTE_TOOLS = {v.route_tool(route): route for route in v.ROUTES}
SUPPORT_TOOLS = (v.QUERY_USER_DATABASE, v.FETCH_SERVICE_STATUS, v.CREATE_SUPPORT_TICKET)
WEATHER_TOOL = v.GET_WEATHER
REVIEW_TOOL = v.GET_HUMAN_REVIEW
TASK_LIST_SCHEMA = v.TASK_LIST

ROUTE_KEYWORDS = {
    "billing": ["invoice", "charge", "charged", "refund", "payment", "bill", "billing", "price", "subscription fee"],
    "account": ["password", "login", "log in", "account", "profile", "email", "2fa", "locked"],
    "product": ["feature", "bug", "export", "dashboard", "how do i", "integration", "api", "crash"],
}
PROBLEM_WORDS = ("degraded", "outage", "suspended", "failing")
UNSURE_WORDS = ("borderline", "maybe", "might", "satire", "unsure", "controversial")
BAD_WORDS = ("scam", "hate", "kill", "fraud")
# Content that tells the moderator what to answer (a prompt injection), which this model obeys.
INJECTION = re.compile(r"\bignore (all )?(the )?previous instructions\b")
POSITIVE_WORDS = {
    "good",
    "great",
    "fantastic",
    "excellent",
    "love",
    "loved",
    "amazing",
    "fast",
    "faster",
    "happy",
    "helpful",
    "easy",
    "awesome",
    "best",
    "perfect",
    "wonderful",
    "nice",
    "pleased",
    "impressive",
    "reliable",
    "smooth",
    "recommend",
    "improved",
    "quick",
    "quickly",
}
NEGATIVE_WORDS = {
    "bad",
    "terrible",
    "awful",
    "hate",
    "slow",
    "slower",
    "broken",
    "bug",
    "bugs",
    "crash",
    "crashes",
    "worst",
    "poor",
    "disappointed",
    "disappointing",
    "annoying",
    "useless",
    "problem",
    "problems",
    "fail",
    "fails",
    "failing",
    "error",
    "errors",
    "expensive",
    "difficult",
    "confusing",
    "unreliable",
}
WORKER_STYLES = {
    "formal": "presented in precise, professional language with a clear structure",
    "conversational": "told in friendly, easy-going words that speak directly to the reader",
    "technical": "covered through specifications, materials and measurable details",
}
EMPTY_FEEDBACK = {"", "none", "n/a", "-", "no feedback", "no feedback yet", "nothing"}


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    rule: str = "echo"  # which rule answered; for the call log


# Variant "b" differs from "a" in two ways only, so an experiment can predict every change:
# a chaining table about churn gets another header, and any request mentioning this is refused (400).
VARIANT_B_REFUSES = "fail-me"
VARIANT_B_HEADER = "| Metric | Value |"


def reply(body: dict[str, Any], variant: str = "a") -> Reply:
    answer = _reply(body)
    if variant == "b" and answer.rule == "chaining.format" and "churn" in (answer.content or "").lower():
        table_lines = (answer.content or "").splitlines()
        return Reply("\n".join([VARIANT_B_HEADER, *table_lines[1:]]), rule="chaining.format.b")
    return answer


def _reply(body: dict[str, Any]) -> Reply:
    conv = conversation(body)
    schema = conv.response_format or {}
    if schema.get("type") == "json_schema":
        return json_schema_reply(conv, schema.get("json_schema") or {})
    if conv.offers(*ROUTE_TOOLS):
        return route(conv)
    if conv.offers(WEATHER_TOOL):
        return weather(conv)
    if conv.offers(*SUPPORT_TOOLS):
        return support(conv)
    if conv.offers(REVIEW_TOOL) or PHRASES["moderator"] in conv.system:
        return moderate(conv)
    specialist = next((route for route in v.ROUTES if v.specialist_marker(route) in conv.system), None)
    if specialist:
        return specialist_answer(specialist, conv.last_user)
    for key, rule in SYSTEM_RULES:
        if PHRASES[key] in conv.system:
            return rule(conv)
    if schema.get("type") == "json_object":
        return Reply(json.dumps({"reply": echo(conv).content}), rule="json_object")
    return echo(conv)


# -- 1. chaining --------------------------------------------------------------


def extract(conv: Conversation) -> Reply:
    return Reply("\n".join(metrics.extract_metrics(conv.last_user)), rule="chaining.extract")


def sort(conv: Conversation) -> Reply:
    return Reply("\n".join(metrics.sort_metrics(conv.last_user)), rule="chaining.sort")


def table(conv: Conversation) -> Reply:
    return Reply(metrics.metrics_table(conv.last_user), rule="chaining.format")


# -- 2. tool routing ----------------------------------------------------------

USER_ID_RE = re.compile(r"User ID:\s*([^\s,;]+)", re.IGNORECASE)


def support(conv: Conversation) -> Reply:
    user_id, question = "unknown", conv.last_user
    for text in conv.users:
        m = USER_ID_RE.search(text)
        if m:
            user_id = m.group(1).rstrip(".?!")
            question = (text[: m.start()] + text[m.end() :]).strip()
            break
    if not conv.tool_results:
        calls = []
        if v.QUERY_USER_DATABASE in conv.tools:
            calls.append(ToolCall(v.QUERY_USER_DATABASE, {"user_id": user_id}))
        if v.FETCH_SERVICE_STATUS in conv.tools:
            calls.append(ToolCall(v.FETCH_SERVICE_STATUS, {}))
        if calls:
            return Reply(tool_calls=tuple(calls), rule="tool_routing.lookup")

    by_name = {name: content for name, _, content in conv.tool_results}
    problems = [w for w in PROBLEM_WORDS if any(w in c.lower() for _, _, c in conv.tool_results)]
    if problems and v.CREATE_SUPPORT_TICKET not in by_name and v.CREATE_SUPPORT_TICKET in conv.tools:
        message = f"{first_sentence(question, 120)} Tool results show: {', '.join(problems)}."
        return Reply(
            tool_calls=(ToolCall(v.CREATE_SUPPORT_TICKET, {"user_id": user_id, "message": message}),),
            rule="tool_routing.ticket",
        )

    parts = [f"I checked account {user_id}"]
    if v.QUERY_USER_DATABASE in by_name:
        parts[0] += f" ({brief(by_name['query_user_database'], skip=('user_id',))})"
    if v.FETCH_SERVICE_STATUS in by_name:
        parts.append(f"Service status: {brief(by_name['fetch_service_status'])}")
    ticket = ticket_id(by_name.get(v.CREATE_SUPPORT_TICKET, ""))
    if ticket:
        parts.append(f"I opened support ticket {ticket} so the team can follow up")
    elif problems:
        parts.append(f"The tools report a problem ({', '.join(problems)})")
    else:
        parts.append("Everything looks fine, so no ticket was needed")
    return Reply(". ".join(parts) + ".", rule="tool_routing.answer")


def ticket_id(content: str) -> str | None:
    if "ticket_id" not in content:
        return None
    data = parse_json(content)
    if isinstance(data, dict) and data.get("ticket_id") is not None:
        return str(data["ticket_id"])
    m = re.search(r"ticket_id\W+([\w-]+)", content)
    return m.group(1) if m else None


# -- 3. parallel tools ---------------------------------------------------------


def weather(conv: Conversation) -> Reply:
    cities = find_cities(conv.last_user)
    # A result whose call id matches no offered call has no name; it still answers a city.
    results = [(args, content) for name, args, content in conv.tool_results if name in (WEATHER_TOOL, "")]
    failed = [content for _args, content in results if '"error"' in content]
    if failed:
        # Like a real model told its call was invalid: ask again for the cities still unanswered.
        results = [(args, content) for args, content in results if '"error"' not in content]
        answered = {args.get("location") for args, _content in results}
        missing = [c for c in cities if c not in answered]
        if missing:
            return Reply(
                tool_calls=tuple(ToolCall(WEATHER_TOOL, {"location": c}) for c in missing),
                rule="parallel_tools.retry_calls",
            )
    if results:
        lines = []
        for i, (args, content) in enumerate(results):
            location = args.get("location") or (cities[i] if i < len(cities) else f"location {i + 1}")
            lines.append(f"{location}: {brief(content, skip=('location', 'city'))}")
        return Reply("\n".join(lines), rule="parallel_tools.answer")
    if not cities:
        return Reply(
            "I could not find a location in your question. Which city do you mean?", rule="parallel_tools.no_location"
        )
    return Reply(tool_calls=tuple(ToolCall(WEATHER_TOOL, {"location": c}) for c in cities), rule="parallel_tools.calls")


# -- 4./5. routing -------------------------------------------------------------


def classify(question: str) -> str:
    """billing, account or product by keyword count; ties and no match go to product."""
    low = question.lower()
    scores = {
        route: sum(len(re.findall(rf"\b{re.escape(k)}\b", low)) for k in words)
        for route, words in ROUTE_KEYWORDS.items()
    }
    best = max(scores.values())
    winners = [r for r, s in scores.items() if s == best]
    return winners[0] if best > 0 and len(winners) == 1 else "product"


def route(conv: Conversation) -> Reply:
    if conv.tool_results:  # the specialist's answer came back as a tool result: pass it on
        return Reply(conv.tool_results[-1][2], rule="routing.relay")
    chosen = classify(conv.last_user)
    offered = [t for t in ROUTE_TOOLS if t in conv.tools]
    tool = f"{chosen}_agent" if f"{chosen}_agent" in offered else offered[0]
    return Reply(tool_calls=(ToolCall(tool, {"question": conv.last_user}),), rule="routing.classify")


SPECIALIST_ANSWERS = {
    "billing": "I reviewed the charges on your invoice; any duplicate payment is refunded to your "
    "original payment method within 5 business days.",
    "account": "You can reset your password and re-enable your login from the account settings page, "
    "and I can unlock the account if it was locked.",
    "product": "The help center documents this feature step by step, and the product team will look "
    "into any bug you report.",
}


def specialist_answer(route_name: str, question: str) -> Reply:
    return Reply(
        f'[{route_name}] About "{clip(question, 120)}": {SPECIALIST_ANSWERS[route_name]}', rule=f"routing.{route_name}"
    )


# -- 6. parallel agents --------------------------------------------------------


def sentiment(conv: Conversation) -> Reply:
    words = re.findall(r"[a-z']+", conv.last_user.lower())
    pos = sorted({w for w in words if w in POSITIVE_WORDS}, key=words.index)
    neg = sorted({w for w in words if w in NEGATIVE_WORDS}, key=words.index)
    if len(pos) > len(neg):
        text = f"positive: the text uses positive words such as {', '.join(pos[:3])}."
    elif len(neg) > len(pos):
        text = f"negative: the text uses negative words such as {', '.join(neg[:3])}."
    else:
        text = "neutral: positive and negative wording are balanced or absent."
    return Reply(text, rule="parallel_agents.sentiment")


def key_points(conv: Conversation) -> Reply:
    points = metrics.sentences(conv.last_user)
    if len(points) < 3:  # too few sentences: fall back to clauses
        points = [c.strip() for p in points for c in re.split(r"[,;]\s+", p) if c.strip()]
    points = (points + ["No further points in the text."] * 3)[:3]
    return Reply("\n".join(f"- {p}" for p in points), rule="parallel_agents.key_points")


def summary(conv: Conversation) -> Reply:
    first = first_sentence(conv.last_user, 200) or "The text is empty."
    return Reply(first, rule="parallel_agents.summary")


# -- 7. orchestrator-workers ---------------------------------------------------


def json_schema_reply(conv: Conversation, spec: dict[str, Any]) -> Reply:
    schema = spec.get("schema") or {}
    name = re.sub(r"[^a-z]", "", str(spec.get("name", "")).lower())
    if name == TASK_LIST_SCHEMA.replace("_", "") or "tasks" in (schema.get("properties") or {}):
        return task_list(conv, schema)
    return Reply(json.dumps(instance_of(schema, schema)), rule="json_schema.generic")


def task_list(conv: Conversation, schema: dict[str, Any]) -> Reply:
    task = clip(conv.last_user.strip(), 200) or "the task"
    tasks = [
        {"task_type": "formal", "instruction": f"Write a precise, formal version of: {task}"},
        {"task_type": "conversational", "instruction": f"Write a friendly, conversational version of: {task}"},
        {"task_type": "technical", "instruction": f"Write a technical version with specifications of: {task}"},
    ]
    max_items = ((schema.get("properties") or {}).get("tasks") or {}).get("maxItems")
    if isinstance(max_items, int):
        tasks = tasks[:max_items]
    return Reply(json.dumps({"tasks": tasks}), rule="orchestrator.tasks")


def worker(conv: Conversation) -> Reply:
    text = conv.last_user
    m = re.search(r"Task type\s*:\s*([\w-]+)", text, flags=re.IGNORECASE)
    task_type = m.group(1) if m else "general"
    subject = (
        field_value(text, "Original task")
        or field_value(text, "Task")
        or field_value(text, "Instruction")
        or first_sentence(text, 160)
    )
    style = WORKER_STYLES.get(task_type.lower(), f"approached the {task_type} way")
    return Reply(f'[{task_type}] "{clip(subject, 160)}", {style}.', rule="orchestrator.worker")


# -- 8. evaluator-optimizer ----------------------------------------------------


def latest_feedback(users: list[str]) -> str | None:
    for text in reversed(users):
        parts = re.split(r"Feedback:", text, flags=re.IGNORECASE)
        if len(parts) > 1:
            lines = [ln.strip() for ln in parts[-1].splitlines() if ln.strip()]
            first = lines[0] if lines else ""
            return None if first.lower().strip(" .()") in EMPTY_FEEDBACK else first
    return None


def generate(conv: Conversation) -> Reply:
    source = conv.users[0] if conv.users else ""
    source = re.split(r"Feedback:|Previous solution", source, flags=re.IGNORECASE)[0]
    task = field_value(source, "Task") or first_line(source) or "the task"
    if "stack" in task.lower():
        body = (
            "class MinStack:\n"
            "    def __init__(self):\n"
            "        self._items, self._mins = [], []\n"
            "    def push(self, x):\n"
            "        self._items.append(x)\n"
            "        self._mins.append(x if not self._mins else min(x, self._mins[-1]))\n"
            "    def pop(self):\n"
            "        self._mins.pop()\n"
            "        return self._items.pop()\n"
            "    def get_min(self):\n"
            "        return self._mins[-1]"
        )
    else:
        body = "Approach: split the task into small steps and carry out each one directly."
    text = f"Solution for: {clip(task, 200)}\n{body}"
    feedback = latest_feedback(conv.users)
    if feedback:
        text += f"\nAddressed feedback: {feedback}"
    return Reply(text, rule="evaluator_optimizer.generate")


def evaluate(conv: Conversation) -> Reply:
    if "Addressed feedback" in conv.transcript:
        return Reply(
            "PASS: the solution is correct, runs in O(1) per operation and addresses the feedback.",
            rule="evaluator_optimizer.pass",
        )
    return Reply("IMPROVE: handle the empty stack case and document complexity", rule="evaluator_optimizer.improve")


# -- 9. human in the loop ------------------------------------------------------


def moderate(conv: Conversation) -> Reply:
    reviews = [c for name, _, c in conv.tool_results if name == REVIEW_TOOL]
    if reviews:  # the human decision came back as a tool result
        decision = reviews[-1].lower()
        verdict = "REJECTED" if "reject" in decision else "APPROVED"
        return Reply(f"{verdict}: decided by a human reviewer ({clip(reviews[-1], 120)}).", rule="moderation.review")
    low = conv.last_user.lower()
    if INJECTION.search(low):
        # A model that follows the content's instructions instead of its own: no verdict at all.
        return Reply("Sure! As instructed, this content is fine to publish.", rule="moderation.injected")
    unsure = [w for w in UNSURE_WORDS if re.search(rf"\b{w}\b", low)]
    if unsure:
        reason = f"Not sure: the content contains {', '.join(repr(w) for w in unsure)}."
        if REVIEW_TOOL in conv.tools:
            return Reply(tool_calls=(ToolCall(REVIEW_TOOL, {"reason": reason}),), rule="moderation.human")
        return Reply(f"REJECTED: {reason} No human review tool was offered.", rule="moderation.unsure")
    bad = [w for w in BAD_WORDS if re.search(rf"\b{w}\b", low)]
    if bad:
        return Reply(f"REJECTED: the content mentions {', '.join(repr(w) for w in bad)}.", rule="moderation.reject")
    return Reply("APPROVED: no harmful or borderline content found.", rule="moderation.approve")


# -- 10. chat -----------------------------------------------------------------


def chat(conv: Conversation) -> Reply:
    users = [u.strip() for u in conv.users]
    last, earlier = (users[-1], users[:-1]) if users else ("", [])
    history = f"Earlier you said: {' | '.join(earlier)}" if earlier else "This is the start of our conversation."
    if earlier:
        history += "."
    return Reply(f"Turn {len(users)}. You said: {last} {history}", rule="chat")


# -- fallback ------------------------------------------------------------------


def echo(conv: Conversation) -> Reply:
    return Reply(f"offline model: {conv.last_user[:80]}", rule="echo")


SYSTEM_RULES = [
    ("extract", extract),
    ("sort", sort),
    ("format", table),
    ("sentiment", sentiment),
    ("key_points", key_points),
    ("summary", summary),
    ("worker", worker),
    ("generator", generate),
    ("evaluator", evaluate),
    ("chat", chat),
]
