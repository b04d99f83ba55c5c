"""Generic QA JSONL: {"question", "answer", "category"?, "difficulty"?, "source"?} per line."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_jsonl, text_fields


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "question", "answer")
    if isinstance(fields, str):
        return fields
    question, answer = fields
    meta = {k: obj[k] for k in ("category", "difficulty", "source") if k in obj}
    return Example(instruction=question, output=answer, source=where, meta=meta)


def read(path: Path) -> Iterator[Example | Reject]:
    yield from convert_records(path, read_jsonl(path), _convert)
