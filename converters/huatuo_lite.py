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

import json
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, read_jsonl, text_field


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    for number, obj in read_jsonl(path):
        if isinstance(obj, Reject):
            yield obj
            continue
        question, answer = text_field(obj, "question"), text_field(obj, "answer")
        if question is None or answer is None:
            missing = "question" if question is None else "answer"
            yield Reject(str(path), number, f"missing or empty '{missing}'", json.dumps(obj, ensure_ascii=False)[:200])
            continue
        yield Example(instruction=question, output=answer, source=f"{path.name}:{number}",
                      meta={"question": question, "subject": text_field(obj, "label"), "id": obj.get("id"),
                            "score": obj.get("score"), "related_diseases": obj.get("related_diseases")})
