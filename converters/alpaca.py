"""Alpaca passthrough: a JSON array (or JSONL) of {instruction, input?, output, system?, history?}."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, read_jsonl, text_field


def _objects(path: Path) -> Iterator[tuple[int, dict | Reject]]:
    if path.suffix == ".jsonl":
        yield from read_jsonl(path)
        return
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield 0, Reject(str(path), 0, f"whole file unreadable as a JSON array: {exc}")
        return
    if not isinstance(rows, list):
        yield 0, Reject(str(path), 0, "top level is not a JSON array of examples")
        return
    for index, row in enumerate(rows, start=1):  # "line" = 1-based array index here
        yield index, row if isinstance(row, dict) else Reject(str(path), index, "array item is not an object")


def read(path: Path) -> Iterator[Example | Reject]:
    for number, obj in _objects(path):
        if isinstance(obj, Reject):
            yield obj
            continue
        instruction, output = text_field(obj, "instruction"), text_field(obj, "output")
        if instruction is None or output is None:
            missing = "instruction" if instruction is None else "output"
            yield Reject(str(path), number, f"missing or empty '{missing}'", json.dumps(obj, ensure_ascii=False)[:200])
            continue
        yield Example(instruction=instruction, output=output, input=(obj.get("input") or "").strip(),
                      system=(obj.get("system") or "").strip(), source=f"{path.name}:{number}")
