"""Alpaca passthrough: a JSON array (or JSONL) of {instruction, input?, output, system?, history?}."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_jsonl, text_fields


def _objects(path: Path) -> Iterator[tuple[int, dict | Reject]]:
    """JSONL by suffix, else the whole file loaded as one JSON array ("line" = 1-based item index)."""
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


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "instruction", "output")
    if isinstance(fields, str):
        return fields
    instruction, output = fields
    return Example(instruction=instruction, output=output, input=(obj.get("input") or "").strip(),
                   system=(obj.get("system") or "").strip(), source=where)


def read(path: Path) -> Iterator[Example | Reject]:
    yield from convert_records(path, _objects(path), _convert)
