"""Values that a JSON request may not carry, found before any of it is used or passed on.

Python's json module accepts what JSON itself does not: NaN, Infinity and -Infinity, and
"\\ud800"-style escapes of lone UTF-16 surrogates. Left alone, the first would be rewritten to
null when the gateway re-serialises a request (so `repetition_penalty: NaN` silently became
vLLM's default, where vLLM itself answers 400), and the second crashes the tokenizers of
retrieval (a 500). Both are the client's error: they become a 400 naming the field.
"""
from __future__ import annotations

import math
from typing import Any, Optional


def surrogate_problem(text: str) -> Optional[str]:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"invalid Unicode: lone surrogate \\u{ord(text[exc.start]):04x} at character {exc.start} "
                f"(send UTF-8 text; a surrogate escape must be one of a pair)")
    return None


def first_invalid(value: Any, path: tuple = ()) -> Optional[tuple[str, str]]:
    """(dotted path, problem) of the first value JSON cannot carry faithfully, or None.

    Walks dicts and lists iteratively (a deeply nested body must not exhaust the stack).
    """
    todo = [(value, path)]
    while todo:
        item, where = todo.pop()
        problem = None
        if isinstance(item, str):
            problem = surrogate_problem(item)
        elif isinstance(item, float) and not math.isfinite(item):
            name = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
            problem = f"{name} is not a JSON number (send a finite number or leave the field out)"
        elif isinstance(item, dict):
            for key, sub in reversed(list(item.items())):
                key_problem = surrogate_problem(key) if isinstance(key, str) else None
                if key_problem:
                    return ".".join(map(str, where)) or "body", f"key {key!r}: {key_problem}"
                todo.append((sub, (*where, key)))
        elif isinstance(item, list):
            todo.extend((sub, (*where, i)) for i, sub in reversed(list(enumerate(item))))
        if problem:
            return ".".join(map(str, where)) or "body", problem
    return None
