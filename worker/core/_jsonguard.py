"""Cheap checks on raw JSON bytes before a model parses them, and error formatting.

The size check costs nothing; the nesting check is a C-speed byte count for ordinary documents
and falls back to a scan that skips string contents only when the document holds many brackets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def nesting_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON document nests objects/arrays deeper than `limit` (strings are skipped).

    Invalid UTF-8 is not judged here (the parser reports it); it is read leniently.
    """
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    text = raw.decode("utf-8", errors="replace")
    depth = 0
    for match in _TOKENS.finditer(text):
        lexeme = match.group()
        if lexeme in "{[":
            depth += 1
            if depth > limit:
                return True
        elif lexeme in "}]":
            depth -= 1
    return False


def format_loc(loc: Sequence[int | str], skip_first: Iterable[str] = ()) -> str:
    """A field path such as `data.candidate.emails[0]` from a pydantic error location."""
    parts = list(loc)
    if parts and isinstance(parts[0], str) and parts[0] in set(skip_first):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out or "(document)"


def describe_errors(
    exc: ValidationError, skip_first: Iterable[str] = (), limit: int = 5
) -> tuple[list[dict[str, Any]], str]:
    """The errors of `exc` and a one-line description naming each field and problem.

    Input values are never quoted: the description may go to logs and dead-letter headers.
    """
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    skip = tuple(skip_first)
    shown = [f"{format_loc(e['loc'], skip)}: {e['msg']}" for e in errors[:limit]]
    if len(errors) > limit:
        shown.append(f"... and {len(errors) - limit} more")
    return [dict(e) for e in errors], "; ".join(shown)
