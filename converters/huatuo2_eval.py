"""HuatuoGPT-II evaluation files (FreedomIntelligence/HuatuoGPT-II `evaluation/data/...`).

Each file is a JSON array (streamed item by item; JSONL works too) of one model's answers to
a fixed question set; the file stem names the model (GPT4.json, HuatuoGPT2-7B.json). Two
shapes, told apart per item:
  instruction set (huatuo100_inst)
    {"id": "s1323", "label": "就医建议", "query": "胃病可以做哪些检查？", "dataset": "huatuo100_inst",
     "model_input": "胃病可以做哪些检查？", "model_output": "1. 内镜检查……"}
  conversation set (huatuo100_conv)
    {"id": 34287, "Doctor faculty": "妇科", "Description": "...", "Diagnosis and suggestions": "...",
     "Real Dialogue": "...", "dataset": "huatuo100_conv", "model_input": [{"role", "content"}, ...],
     "model_output": [[patient turn, model answer], [patient turn, model answer], ...]}
Each valid item becomes one Example in the test split (these are evaluation questions):
    instruction  the query / the patient's opening turn (a conversation's later patient turns are
                 the simulated patient's, ending mostly in thanks: not a question to ask)
    output       the model's answer / the real doctor's "Diagnosis and suggestions" (else the model's
                 answer to the opening turn): the reference the evaluation compares against
    meta         {"split": "test", "question", "subject": label / Doctor faculty, "id",
                  "answer_model": the file stem; conversations also "description", "real_dialogue"
                  (the doctor and patient's own) and "model_dialogue" (the [patient, answer] turns)}
Rejects: bad JSON, an item that is not an object, a missing query, a missing or malformed
model_output (conversations: a list of [patient, answer] string pairs).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field


def _pairs(raw) -> list[list[str]] | str:
    if raw is None or raw == []:
        return "missing or empty 'model_output'"
    if not isinstance(raw, list):
        return "bad model_output: expected a list of [patient turn, answer] string pairs"
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) and t.strip() for t in p) for p in raw):
        return "bad model_output: expected a list of [patient turn, answer] string pairs"
    return [[q.strip(), a.strip()] for q, a in raw]


def _convert(obj: dict, where: str, model: str) -> Example | str:
    meta = {"split": "test", "id": obj.get("id"), "answer_model": model}
    if isinstance(obj.get("model_output"), list) or "Doctor faculty" in obj:
        pairs = _pairs(obj.get("model_output"))
        if isinstance(pairs, str):
            return pairs
        meta.update(question=pairs[0][0], subject=text_field(obj, "Doctor faculty"), model_dialogue=pairs,
                    description=text_field(obj, "Description"), real_dialogue=text_field(obj, "Real Dialogue"))
        doctor = text_field(obj, "Diagnosis and suggestions")
        return Example(instruction=pairs[0][0], output=doctor or pairs[0][1], source=where, meta=meta)
    query = text_field(obj, "query") or text_field(obj, "model_input")
    if query is None:
        return "missing or empty 'query'"
    answer = text_field(obj, "model_output")
    if answer is None:
        return "missing or empty 'model_output'"
    meta.update(question=query, subject=text_field(obj, "label"))
    return Example(instruction=query, output=answer, source=where, meta=meta)


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), lambda obj, where: _convert(obj, where, path.stem))
