"""Text helpers for the chaining rules of the offline model (a deterministic
stand-in for a real LLM): pull "metric name: value" lines out of prose, sort
them by value and render them as a markdown table.
"""

from __future__ import annotations

import re

# A number not glued to a word ("Q3" is not a metric), with optional currency and unit.
NUMBER_RE = re.compile(
    r"(?<![\w.])(?P<sign>-)?(?P<cur>[$€£])?(?P<num>\d[\d,]*(?:\.\d+)?)"
    r"(?:\s*(?P<unit>%|percent\b|points?\b|pts\b|million\b|billion\b|thousand\b|bn\b|[kKmMbB]\b))?"
)
_MULTIPLIER = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9}

# Words that may open a noun phrase but are not part of the metric's name.
_LEADING = {
    "our",
    "the",
    "their",
    "its",
    "his",
    "her",
    "my",
    "your",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "we",
    "they",
    "it",
    "i",
    "you",
    "total",
    "overall",
    "and",
    "also",
    "meanwhile",
    "then",
}
# Verbs and prepositions that end the metric's noun phrase.
_UP = {
    "grew": "growth",
    "grow": "growth",
    "grows": "growth",
    "rose": "increase",
    "rise": "increase",
    "rises": "increase",
    "increased": "increase",
    "increases": "increase",
    "climbed": "increase",
    "jumped": "increase",
    "gained": "gain",
    "improved": "improvement",
    "fell": "decrease",
    "dropped": "decrease",
    "decreased": "decrease",
    "declined": "decline",
    "shrank": "decline",
    "lost": "loss",
}
_STOP = set(_UP) | {
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "stands",
    "stood",
    "stayed",
    "remained",
    "reached",
    "hit",
    "went",
    "came",
    "has",
    "have",
    "had",
    "at",
    "to",
    "by",
    "from",
    "in",
    "on",
    "for",
    "with",
    "now",
    "of",
    "sits",
    "totaled",
    "totalled",
    "amounted",
    "saw",
    "sold",
    "hired",
    "made",
    "earned",
    "posted",
    "recorded",
    "averaged",
}
_WORD_RE = re.compile(r"[A-Za-z][\w'&/-]*")
_LINE_RE = re.compile(r"^\s*(?:[-*•]\s*)?(?P<name>[^:|]+?)\s*:\s*(?P<value>.+?)\s*$")


def sentences(text: str) -> list[str]:
    """Split prose into sentences; a period inside "3.5" does not split."""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if p.strip()]


def _value_text(m: re.Match[str]) -> str:
    unit = (m.group("unit") or "").lower()
    value = f"{m.group('sign') or ''}{m.group('cur') or ''}{m.group('num')}"
    if unit in ("%", "percent"):
        return value + "%"
    if unit in ("million", "billion", "thousand", "bn"):
        return f"{value} {unit}"
    if unit in ("k", "m", "b"):
        return value + unit.upper()
    return value  # points/pts are dropped: the value column holds the number


def numeric_value(text: str) -> float | None:
    """The first number in ``text`` as a float, scaled by million/billion/k."""
    m = NUMBER_RE.search(text)
    if not m:
        return None
    number = float(m.group("num").replace(",", ""))
    number *= _MULTIPLIER.get((m.group("unit") or "").lower(), 1.0)
    return -number if m.group("sign") else number


def _metric_name(prefix: str, after: str) -> str:
    # "Q3 Summary: Our score rose to" -> only the last clause names the metric.
    clause = re.split(r"[,;:]", prefix)[-1]
    words = _WORD_RE.findall(clause)
    while words and words[0].lower() in _LEADING:
        words = words[1:]
    name: list[str] = []
    for i, word in enumerate(words):
        low = word.lower()
        if low in _STOP:
            rest = [w.lower() for w in words[i + 1 :]]
            # "grew by 45%" / "grew 45%" is a change, "rose to 92" is a level.
            if low in _UP and name and (not rest or rest[0] == "by"):
                name.append(_UP[low])
            break
        name.append(low)
    if not name:  # "We hired 12 engineers." -> the noun after the number
        for word in _WORD_RE.findall(after)[:3]:
            if word.lower() in _STOP or word.lower() in _LEADING:
                break
            name.append(word.lower())
    return " ".join(name[-4:]) or "value"


def extract_metrics(text: str) -> list[str]:
    """One "metric name: value" line per sentence that carries a number (its first number)."""
    lines = []
    for sentence in sentences(text):
        m = NUMBER_RE.search(sentence)
        if not m:
            continue
        name = _metric_name(sentence[: m.start()], sentence[m.end() :])
        lines.append(f"{name}: {_value_text(m)}")
    return lines


def metric_lines(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of the "name: value" lines in ``text`` that carry a number."""
    pairs = []
    for line in text.splitlines():
        m = _LINE_RE.match(line)
        if m and NUMBER_RE.search(m.group("value")):
            pairs.append((m.group("name").strip(), m.group("value")))
    return pairs


def sort_metrics(text: str) -> list[str]:
    pairs = metric_lines(text)
    # sorted() is stable, so equal values keep their input order.
    ordered = sorted(pairs, key=lambda p: -(numeric_value(p[1]) or 0.0))
    return [f"{name}: {value}" for name, value in ordered]


def metrics_table(text: str) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    rows = ["| Metric Name | Value |", "|---|---|"]
    rows += [f"| {cell(name)} | {cell(value)} |" for name, value in metric_lines(text)]
    return "\n".join(rows)
