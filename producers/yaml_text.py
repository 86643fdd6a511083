"""JSON-shaped data as block-style YAML, without a YAML library.

agentpipe does not depend on PyYAML; what it writes as YAML (docs/asyncapi.yaml) is
plain data: mappings with string keys, lists, strings, numbers, booleans and null.
That subset needs no library: a string is written plain only when it is unmistakably
a string to every YAML reader (it starts with a letter and holds no character YAML
gives a meaning to); every other string is written double-quoted with JSON's escapes,
which YAML's double-quoted style accepts. The output is therefore also read the same
by YAML 1.1 readers (no yes/no/on/off, dates or sexagesimal numbers in plain scalars).
"""

from __future__ import annotations

import json
import re
from typing import Any

INDENT = "  "
# Starts with a letter (so never a number, a date or an indicator), then printable ASCII; what would
# end the scalar or start a comment (": ", " #", a trailing ":" or space) is ruled out in ``plain``.
_PLAIN = re.compile(r"[A-Za-z$][ -~]*")
# Plain words a YAML reader takes for booleans or null (1.1 and 1.2, any case).
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}
# Characters a YAML stream may not hold raw, or that some readers take for line breaks: escaped.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def plain(text: str) -> bool:
    """True when ``text`` reads back as this very string without quotes."""
    return (
        _PLAIN.fullmatch(text) is not None
        and ": " not in text
        and " #" not in text
        and not text.endswith((":", " "))
        and text.lower() not in _RESERVED
    )


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if plain(value):
            return value
        return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _lines(value: Any, depth: int) -> list[str]:
    """``value`` as the lines of a block node, each indented ``depth`` levels."""
    pad = INDENT * depth
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, not {type(key).__name__}")
            if _is_block(item):
                lines.append(f"{pad}{scalar(key)}:")
                lines.extend(_lines(item, depth + 1))
            else:
                lines.append(f"{pad}{scalar(key)}: {_inline(item)}")
    elif isinstance(value, list):
        for item in value:
            if _is_block(item):
                # The item's first line goes after the dash; the rest keep the indentation the dash gives.
                nested = _lines(item, depth + 1)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_inline(item)}")
    else:
        lines.append(f"{pad}{scalar(value)}")
    return lines


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and len(value) > 0


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def dump(value: dict[str, Any], header: str = "") -> str:
    """A YAML document for ``value``, with ``header`` (each line a comment) on top."""
    comments = [f"# {line}".rstrip() for line in header.splitlines()]
    return "\n".join([*comments, *_lines(value, 0)]) + "\n"
