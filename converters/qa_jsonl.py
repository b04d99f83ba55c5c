"""Generic QA JSONL: {"question", "answer", "category"?, "difficulty"?, "source"?} per line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, read_jsonl, text_field


def read(path: Path) -> Iterator[Example | Reject]:
    for number, obj in read_jsonl(path):
        if isinstance(obj, Reject):
            yield obj
            continue
        question, answer = text_field(obj, "question"), text_field(obj, "answer")
        if question is None or answer is None:
            missing = "question" if question is None else "answer"
            yield Reject(str(path), number, f"missing or empty '{missing}'", json.dumps(obj, ensure_ascii=False)[:200])
            continue
        meta = {k: obj[k] for k in ("category", "difficulty", "source") if k in obj}
        yield Example(instruction=question, output=answer, source=f"{path.name}:{number}", meta=meta)
