"""`问`/`答` JSONL: MedicalGPT's RAG corpus text (shibing624/MedicalGPT `data/rag/medical_corpus.txt`).

One JSON object per line, keys in Chinese:
    {"问": "白带增多发黄怎么个情况？，最近几天……", "答": "白带增多泛黄应该是……"}
Many questions are a title and a description joined by "，" (the description is often just
"无", as in the dialogue CSVs: "新生儿黄疸与缺乏维生素有关吗？，无"); such a trailing "，无" is
removed. Each valid line becomes:
    instruction  the question            output  the answer (both stripped)
    meta         {"question"}
With `corpus_from_qa` on (the default) the training pairs also become RAG passages.
Rejects: bad JSON, a line that is not an object, a missing or empty 问 or 答.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_jsonl, text_fields

EMPTY_DESCRIPTION = re.compile(r"[，,]\s*无\s*$")


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "问", "答")
    if isinstance(fields, str):
        return fields
    question, answer = fields
    question = EMPTY_DESCRIPTION.sub("", question) or question
    return Example(instruction=question, output=answer, source=where, meta={"question": question})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_jsonl(path), _convert)
