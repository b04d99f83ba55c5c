"""PromptCBLUE (michael-wzhu/PromptCBLUE): the CBLUE medical NLP tasks written as prompts.

JSON Lines (or a JSON array), one task instance per line:
    {"input": "找出句子中的疾病实体：\\n患者三天前出现发热……", "target": "上述句子中的疾病实体：发热",
     "answer_choices": ["疾病", "症状", ...] | null, "task_type": "ner" | "cls" | "normalization" | ...,
     "task_dataset": "CMeEE-V2", "sample_id": "train-1"}
Each valid line becomes:
    instruction  the input (the prompt, already worded as a task)
    output       the target, as written (an entity list, a label, a normalised term)
    meta         {"kind": "task", "task_type", "task_dataset", "sample_id", "answer_choices"}
A task output is not a doctor's answer: kind "task" keeps it out of the five-section rewrite,
the noise and refusal steps and the RAG corpus (converters/example_meta.py, is_open_answer).
Rejects: bad JSON, a line that is not an object, a missing or empty input or target, and
answer_choices that are not a list of strings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field, text_fields


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "input", "target")
    if isinstance(fields, str):
        return fields
    prompt, target = fields
    choices = obj.get("answer_choices")
    if choices is not None and not (isinstance(choices, list) and all(isinstance(c, str) for c in choices)):
        return "bad answer_choices: expected a list of strings or null"
    meta = {"kind": "task", "task_type": text_field(obj, "task_type"), "task_dataset": text_field(obj, "task_dataset"),
            "sample_id": obj.get("sample_id"), "answer_choices": choices}
    return Example(instruction=prompt, output=target, source=where, meta=meta)


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), _convert)
