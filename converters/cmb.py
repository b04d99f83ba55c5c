"""CMB-Exam (FreedomIntelligence/CMB `CMB-Exam/CMB-train/CMB-train-merge.json`, `CMB-val/...`).

A JSON array (streamed item by item; "line" = 1-based item index) or JSONL of:
    {"exam_type": "医师考试", "exam_class": "执业医师", "exam_subject": "口腔执业医师",
     "question": "...", "answer": "C", "question_type": "单项选择题",
     "option": {"A": "...", "B": "...", ...}}
`option` is singular; `answer` holds the letter(s), "ACD" for a multiple-answer question
(separators such as "A,C" or "A、C" and lower case are tolerated). Options with empty text
are left out. Each valid item becomes:
    instruction  "【<question_type>】" (when given), the question, "A. text" per option, then
                 ASK_SINGLE, or ASK_MULTI when the question type names several answers
                 (多项 / 不定项) -- never decided by the gold answer itself
    output       "答案：<letters>" (letters in option order)
    meta         {"question", "options", "answer": letters, "subject": exam_subject,
                  "question_type", "exam_type", "exam_class"}
Rejects: bad JSON, missing question, missing or malformed option, missing answer ("missing or
empty 'answer'", e.g. the unlabelled CMB-test file), answer not made of letters ("bad answer"),
letters not among the option keys, several letters for a 单项 question.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field

ASK_SINGLE = "请选出正确答案，只需回答选项字母。"
ASK_MULTI = "本题可能有多个正确答案，请选出全部正确答案，只需回答选项字母。"
SEPARATORS = re.compile(r"[\s,，、;；]+")
MULTI_TYPES = ("多项", "多选", "不定项")


def parse_answer(value, options: dict[str, str]) -> str:
    """The answer letters in option order; raises ValueError with the reject reason."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("missing or empty 'answer'")
    letters = SEPARATORS.sub("", value).upper()
    if not letters.isascii() or not letters.isalpha():
        raise ValueError(f"bad answer: {value!r} is not option letters")
    unknown = sorted(set(letters) - set(options))
    if unknown:
        raise ValueError(f"answer letters not among option keys: {''.join(unknown)!r} not in {''.join(options)}")
    return "".join(k for k in options if k in letters)


def _convert(obj: dict, where: str) -> Example | str:
    question = text_field(obj, "question")
    if question is None:
        return "missing or empty 'question'"
    raw = obj.get("option")
    if not isinstance(raw, dict) or not raw:
        return "missing or empty 'option'"
    if not all(isinstance(k, str) and re.fullmatch(r"[A-Z]", k.strip()) and (v is None or isinstance(v, str))
               for k, v in raw.items()):
        return "bad options: keys must be single capital letters and texts strings"
    options = {k.strip(): v.strip() for k, v in raw.items() if v and v.strip()}
    if len(options) < 2:
        return f"bad options: {len(options)} option(s) with text"
    try:
        answer = parse_answer(obj.get("answer"), options)
    except ValueError as exc:
        return str(exc)
    qtype = text_field(obj, "question_type")
    if qtype and "单项" in qtype and len(answer) > 1:
        return f"multiple answers for a single-choice question: {answer}"
    multi = bool(qtype) and any(word in qtype for word in MULTI_TYPES)
    lines = ([f"【{qtype}】"] if qtype else []) + [question, *(f"{k}. {v}" for k, v in options.items()),
                                                  ASK_MULTI if multi else ASK_SINGLE]
    return Example(instruction="\n".join(lines), output=f"答案：{answer}", source=where,
                   meta={"question": question, "options": options, "answer": answer,
                         "subject": text_field(obj, "exam_subject"), "question_type": qtype,
                         "exam_type": text_field(obj, "exam_type"), "exam_class": text_field(obj, "exam_class")})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), _convert)
