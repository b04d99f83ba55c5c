"""huatuo_encyclopedia_qa (FreedomIntelligence/huatuo_encyclopedia_qa `{train,validation,test}_datasets.jsonl`).

One JSON per line; `questions` is a list of question GROUPS, each a list of phrasings of the
same question, and `answers` is aligned with the outer list:
    {"questions": [["肝硬化的病因有哪些？", "肝硬化是什么原因引起的？"], ["..."]],
     "answers": ["answer to group 1", "answer to group 2"]}
Each (group, answer) pair becomes one Example:
    instruction  the group's first phrasing (stripped)
    output       the aligned answer (stripped)
    meta         {"question": the first phrasing, "question_variants": the other phrasings
                  (stripped, duplicates dropped), "group": 1-based group index}
The whole line is rejected (no partial rows) when: `questions` is not a non-empty list of
non-empty lists of strings ("bad questions"), `answers` is not a list of strings ("bad
answers"), the two lengths differ ("misaligned row"), or a string is empty ("empty question"
/ "empty answer"). Bad JSON and non-object lines are rejected as usual.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_jsonl


def _check(questions, answers) -> str | None:
    """The reason a row is unusable, or None."""
    if not isinstance(questions, list) or not questions or not all(
            isinstance(g, list) and g and all(isinstance(q, str) for q in g) for g in questions):
        return "bad questions: expected a non-empty list of non-empty lists of strings"
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        return "bad answers: expected a list of strings"
    if len(questions) != len(answers):
        return f"misaligned row: {len(questions)} question groups, {len(answers)} answers"
    for n, (group, answer) in enumerate(zip(questions, answers), start=1):
        if not all(q.strip() for q in group):
            return f"empty question: in group {n}"
        if not answer.strip():
            return f"empty answer: for group {n}"
    return None


def _convert(obj: dict, where: str) -> list[Example] | str:
    questions, answers = obj.get("questions"), obj.get("answers")
    reason = _check(questions, answers)
    if reason:
        return reason
    examples = []
    for n, (group, answer) in enumerate(zip(questions, answers), start=1):
        first = group[0].strip()
        variants = list(dict.fromkeys(q.strip() for q in group[1:] if q.strip() != first))
        examples.append(Example(instruction=first, output=answer.strip(), source=where,
                                meta={"question": first, "question_variants": variants, "group": n}))
    return examples


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_jsonl(path), _convert)
