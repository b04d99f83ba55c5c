"""Huatuo26M-Lite (FreedomIntelligence/Huatuo26M-Lite `format_data.jsonl`), one JSON per line:
    {"id": 1, "question": "...", "answer": "...", "score": 5, "label": "内科",
     "related_diseases": "..."}
Each valid line becomes:
    instruction  question (stripped)
    output       answer (stripped)
    meta         {"question", "subject": label or None, "id", "score", "related_diseases"}
                 (the last three exactly as given, None when absent)
Rejects: bad JSON, a line that is not an object, missing or empty question / answer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_jsonl, text_field, text_fields


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "question", "answer")
    if isinstance(fields, str):
        return fields
    question, answer = fields
    return Example(instruction=question, output=answer, source=where,
                   meta={"question": question, "subject": text_field(obj, "label"), "id": obj.get("id"),
                         "score": obj.get("score"), "related_diseases": obj.get("related_diseases")})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_jsonl(path), _convert)
