"""Preference pairs: one check and one writer for every source of pairs.

A pair is an Example whose `output` is the chosen answer and `meta["rejected"]` the rejected
one (meta["question"] the bare question, meta["history"] earlier [question, answer] rounds).
Where pairs come from:
    converters/medicalgpt_preference.py  MedicalGPT's reward JSONL
    converters/cmedqa2_pairs.py          cMedQA2 train_candidates.txt (positive vs negative answer)
    refusal_pairs()                      an out-of-scope question: chosen = the standard refusal,
                                         rejected = an answer that goes along with the question
                                         (converters/prep/out_of_scope_answers_zh.txt)
    five_section_pairs()                 chosen = the answer restructured into the five sections,
                                         rejected = the answer as the source wrote it
    flattened_pairs()                    an answer already in the five sections: chosen = it, rejected =
                                         the same text with the 【…】 headers removed (one paragraph)
    answer_pairs()                       a medical question (with or without retrieved context): chosen =
                                         the answer, rejected = the refusal (the opposite of refusal_pairs)
    citation_pairs()                     the answering passage in numbered context (data.noise.share):
                                         chosen = the answer citing it, rejected = the same answer citing
                                         a distractor's number instead
Every pair goes through make_pair(), whose reasons are the rejects: an empty question or side
("missing or empty ..."), chosen equal to rejected ("no preference"). `make data` adds one more,
a training pair whose question is also in the validation or test split ("held-out question").

write() gives LLaMA-Factory two datasets per file name (entries for dataset_info.json):
    <name>.jsonl      ranking: {instruction, input, chosen, rejected, system[, history]},
                      "ranking": true, columns prompt/query/chosen/rejected/system[/history]
    <kto>.jsonl       KTO: one row per side {instruction, input, output, kto_tag, system[, history]},
                      kto_tag true for the chosen answer and false for the rejected one; a row
                      repeated by several pairs (one positive, many negatives) is written once
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from converters.common import Example
from converters.prep.five_section import has_five_sections
from core.answer_format import HEADERS
from core.jsonl import write_jsonl

ANSWERS_FILE = Path(__file__).parent / "prep" / "out_of_scope_answers_zh.txt"
_HEADERS = re.compile("|".join(map(re.escape, HEADERS)))


def make_pair(question: str | None, chosen: str | None, rejected: str | None, where: str, *,
              names: tuple[str, str, str] = ("question", "chosen", "rejected"), system: str = "",
              history: list | None = None, meta: dict | None = None) -> Example | str:
    """A pair Example, or the reason it cannot be one. `names` label the three fields in reasons."""
    for name, value in zip(names, (question, chosen, rejected)):
        if not isinstance(value, str) or not value.strip():
            return f"missing or empty '{name}'"
    question, chosen, rejected = question.strip(), chosen.strip(), rejected.strip()
    if chosen == rejected:
        return "no preference: chosen and rejected answers are the same"
    return Example(instruction=question, output=chosen, system=system, source=where,
                   meta={**(meta or {}), "question": question, "history": history or [], "rejected": rejected})


def is_pair(example: Example) -> bool:
    return "rejected" in example.meta


def load_answers(path: Path = ANSWERS_FILE) -> dict[str, str]:
    """{out-of-scope question: an answer to it} from question<TAB>answer lines (# comments)."""
    answers = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            question, answer = line.split("\t", 1)
            if question.strip() and answer.strip():
                answers[question.strip()] = answer.strip()
    return answers


def refusal_pairs(examples: Iterable[Example], answers: dict[str, str]) -> tuple[list[Example | str], int]:
    """(pairs or reject reasons, refusals with no known answer) for the refusal examples.

    A refusal example's question is one of the listed questions with a prefix/suffix variant
    (converters/prep/refusals.py), so its answer is found by the listed question it contains.
    """
    found, unanswered = [], 0
    for ex in examples:
        if ex.meta.get("kind") != "refusal":
            continue
        answer = next((a for q, a in answers.items() if q in ex.instruction), None)
        if answer is None:
            unanswered += 1
            continue
        found.append(make_pair(ex.instruction, ex.output, answer, ex.source, system=ex.system,
                               meta={"dataset": "refusal-pairs", "kind": "refusal"}))
    return found, unanswered


def five_section_pairs(examples: Iterable[Example]) -> list[Example | str]:
    """Pairs (or reasons) for answers that restructuring changed: the five sections over the raw text."""
    found = []
    for ex in examples:
        original = ex.meta.get("original_output")
        if original is None or original == ex.output or ex.meta.get("kind") == "noisy-context":
            continue
        found.append(make_pair(ex.instruction, ex.output, original, ex.source, system=ex.system,
                               history=ex.meta.get("history"), meta={"dataset": "five-section-pairs"}))
    return found


def flatten(answer: str) -> str:
    """The answer without its 【…】 headers: the sections' text as one paragraph, whitespace collapsed."""
    return " ".join(_HEADERS.sub(" ", answer).split())


def flattened_pairs(examples: Iterable[Example]) -> list[Example | str]:
    """Pairs (or reasons) for answers in the five sections: the sections over the same text as prose.
    The words are the same on both sides, so the preference is the format alone. Numbered-context
    (noise) examples are left out, as in five_section_pairs."""
    found = []
    for ex in examples:
        if ex.meta.get("kind") == "noisy-context" or not has_five_sections(ex.output):
            continue
        found.append(make_pair(ex.instruction, ex.output, flatten(ex.output), ex.source, system=ex.system,
                               history=ex.meta.get("history"), meta={"dataset": "flattened-pairs"}))
    return found


def answer_pairs(examples: Iterable[Example], refusal: str) -> list[Example | str]:
    """Pairs (or reasons) for the open answers: the answer over the refusal, so preference training
    pushes medical questions away from declining (with retrieved context too)."""
    found = []
    for ex in examples:
        if "answer" in ex.meta or ex.meta.get("kind") == "refusal" or is_pair(ex):
            continue
        found.append(make_pair(ex.instruction, ex.output, refusal, ex.source, system=ex.system,
                               history=ex.meta.get("history"), meta={"dataset": "answer-pairs"}))
    return found


def citation_pairs(examples: Iterable[Example]) -> list[Example | str]:
    """Pairs (or reasons) for the examples with the answering passage [gold] among numbered passages:
    the answer citing [gold] over the same answer citing the next passage's number (the citation
    penalty: the same words, a source that does not hold them)."""
    found = []
    for ex in examples:
        gold, passages = ex.meta.get("gold_index"), ex.meta.get("passages")
        if ex.meta.get("kind") != "noisy-context" or not gold or not passages or passages < 2:
            continue
        wrong = gold % passages + 1
        found.append(make_pair(ex.instruction, ex.output, ex.output.replace(f"[{gold}]", f"[{wrong}]"), ex.source,
                               system=ex.system, meta={"dataset": "citation-pairs"}))
    return found


def ranking_row(pair: Example) -> dict:
    row = {"instruction": pair.instruction, "input": pair.input, "chosen": pair.output,
           "rejected": pair.meta["rejected"], "system": pair.system}
    if pair.meta.get("history"):
        row["history"] = pair.meta["history"]
    return row


def kto_rows(pairs: Iterable[Example]) -> list[dict]:
    """Two rows per pair (chosen: kto_tag true, rejected: false); repeated rows written once."""
    rows, seen = [], set()
    for pair in pairs:
        for output, tag in ((pair.output, True), (pair.meta["rejected"], False)):
            row = {"instruction": pair.instruction, "input": pair.input, "output": output, "kto_tag": tag,
                   "system": pair.system}
            if pair.meta.get("history"):
                row["history"] = pair.meta["history"]
            key = json.dumps(row, ensure_ascii=False, sort_keys=True)
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


def _columns(history: bool, **sides: str) -> dict:
    columns = {"prompt": "instruction", "query": "input", **sides, "system": "system"}
    if history:  # mapped only when some row has it: LLaMA-Factory fails on a mapped column a file lacks
        columns["history"] = "history"
    return columns


def ranking_entry(file_name: str, history: bool = False) -> dict:
    """dataset_info.json entry of a ranking file (DPO, ORPO, SimPO; LLaMA-Factory `stage: dpo`)."""
    return {"file_name": file_name, "ranking": True,
            "columns": _columns(history, chosen="chosen", rejected="rejected")}


def kto_entry(file_name: str, history: bool = False) -> dict:
    """dataset_info.json entry of a KTO file (LLaMA-Factory `stage: kto`)."""
    return {"file_name": file_name, "columns": _columns(history, response="output", kto_tag="kto_tag")}


def write(pairs: list[Example], out: Path, name: str, kto_name: str | None = None) -> dict:
    """<name>.jsonl (ranking) and, with kto_name, <kto_name>.jsonl (KTO); their dataset_info entries.
    No pairs: no files, {}."""
    if not pairs:
        return {}
    history = any(p.meta.get("history") for p in pairs)
    write_jsonl(out / f"{name}.jsonl", (ranking_row(p) for p in pairs))
    info = {name: ranking_entry(f"{name}.jsonl", history)}
    if kto_name:
        write_jsonl(out / f"{kto_name}.jsonl", kto_rows(pairs))
        info[kto_name] = kto_entry(f"{kto_name}.jsonl", history)
    return info
