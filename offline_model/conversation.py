"""Request parsing and text helpers for the offline model (a deterministic
stand-in for a real LLM): the parts of a Chat Completions request that the
rules look at, and small formatting helpers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from offline_model import metrics


@dataclass
class Conversation:
    """The parts of a request the rules look at."""

    system: str
    users: list[str]
    transcript: str  # every user and assistant text, for "does the solution contain ..." checks
    tools: list[str]
    tool_results: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # name, args, content
    response_format: dict[str, Any] | None = None

    @property
    def last_user(self) -> str:
        return self.users[-1] if self.users else ""

    def offers(self, *names: str) -> bool:
        return any(n in self.tools for n in names)


def text_of(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("text"))
    return ""


def tool_names(body: dict[str, Any]) -> list[str]:
    names = []
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            names.append(fn["name"])
    return names


def conversation(body: dict[str, Any]) -> Conversation:
    system, users, transcript = [], [], []
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    results: list[tuple[str, dict[str, Any], str]] = []
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        role, text = msg.get("role"), text_of(msg.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        elif role == "user":
            users.append(text)
            transcript.append(text)
        elif role == "assistant":
            transcript.append(text)
            for call in msg.get("tool_calls") or []:
                fn = call.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except (TypeError, ValueError):
                    args = {}
                calls[call.get("id", "")] = (fn.get("name", ""), args if isinstance(args, dict) else {})
        elif role == "tool":
            name, args = calls.get(msg.get("tool_call_id", ""), (msg.get("name", ""), {}))
            results.append((name, args, text))
    # tool_choice "none" means the model must answer in text.
    tools = [] if body.get("tool_choice") == "none" else tool_names(body)
    rf = body.get("response_format") if isinstance(body.get("response_format"), dict) else None
    return Conversation("\n".join(system), users, "\n".join(transcript), tools, results, rf)


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def brief(content: str, skip: tuple[str, ...] = ()) -> str:
    """A one-line rendering of a tool result: "key: value" pairs for a JSON object, else the text."""
    data = parse_json(content)
    if isinstance(data, dict):
        pairs = [f"{k}: {v}" for k, v in data.items() if k not in skip and not isinstance(v, (dict, list))]
        if pairs:
            return ", ".join(pairs)
    return clip(" ".join(content.split()), 160) or "no data"


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def first_sentence(text: str, limit: int) -> str:
    found = metrics.sentences(text)
    return clip(found[0], limit) if found else ""


def field_value(text: str, label: str) -> str | None:
    """The rest of the line after "<label>:" (e.g. "Task type: formal")."""
    m = re.search(rf"\b{re.escape(label)}\s*:[ \t]*(\S.*)$", text, flags=re.IGNORECASE | re.MULTILINE)
    return m.group(1).strip() if m else None


def instance_of(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A small deterministic value that matches a JSON schema (for schemas without a rule)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return instance_of(target, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return instance_of(schema[key][0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    kind = str(kind)
    if kind == "object" or "properties" in schema:
        return {k: instance_of(v, root) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [instance_of(schema.get("items") or {}, root) for _ in range(max(1, schema.get("minItems", 1)))]
    return {"string": "offline", "integer": 0, "number": 0, "boolean": False, "null": None}.get(kind, "offline")
