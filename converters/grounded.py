"""Knowledge passages with the questions they answer (format `grounded-jsonl`), one object per line:

    {"id": "drug-amoxicillin-adult-dose", "topic": "amoxicillin", "title": "Amoxicillin: adult dosing",
     "passage": "<the corpus passage; its first sentence states the fact>",
     "question": "<a question the passage answers>", "facts": ["500 mg", "every 8 hours"],
     "answer": "<the answer, stating the fact>", "split": "train" | "test" | "validation"}

Each line gives two records:
  Document  the passage, for the RAG corpus (metadata: kind "knowledge", topic, passage_id), so a
            question of any split finds its passage in the index
  Example   the question and answer, in the line's split; meta["grounded"] carries the passage id,
            topic and facts. In the train split it is trained (with its passage among distractors,
            data.noise); in the test split it becomes a grounded evaluation item (evaluation/grounded.py)
            whose fact is stated in that one passage and in no training answer.
Checks (a failing line is a reject with its line number): every field present and a non-empty string
(facts: a list of 1-3 non-empty strings), split one of the three, each fact found in the passage and
in the answer (case-insensitive), the id not seen before in the file. Out-of-split facts in training
answers are the build's leakage check (converters/build.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Document, Example, Reject, convert_records, read_jsonl, text_fields

FIELDS = ("id", "topic", "title", "passage", "question", "answer", "split")
SPLITS = ("train", "validation", "test")


def _convert(obj: dict, where: str, seen: set[str]) -> list[Document | Example] | str:
    fields = text_fields(obj, *FIELDS)
    if isinstance(fields, str):
        return fields
    pid, topic, title, passage, question, answer, split = fields
    facts = obj.get("facts")
    if not (isinstance(facts, list) and 1 <= len(facts) <= 3 and all(isinstance(f, str) and f.strip() for f in facts)):
        return "'facts' must be a list of 1-3 non-empty strings (the key phrases that carry the answer)"
    if split not in SPLITS:
        return f"split {split!r} is not one of {', '.join(SPLITS)}"
    for fact in facts:
        for name, text in (("passage", passage), ("answer", answer)):
            if fact.strip().lower() not in text.lower():
                return f"fact {fact!r} is not in the {name}: a grounded fact is stated in both"
    if pid in seen:
        return f"duplicate id {pid!r}"
    seen.add(pid)
    document = Document(title=title, text=passage, source=where,
                        metadata={"kind": "knowledge", "topic": topic.lower(), "passage_id": pid})
    grounded = {"passage_id": pid, "topic": topic.lower(), "facts": [f.strip() for f in facts]}
    example = Example(instruction=question, output=answer, source=where,
                      meta={"split": split, "subject": topic.lower(), "grounded": grounded})
    return [document, example]


def read(path: Path) -> Iterator[Example | Document | Reject]:
    seen: set[str] = set()
    yield from convert_records(path, read_jsonl(path), lambda obj, where: _convert(obj, where, seen))
