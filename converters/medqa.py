"""MedQA multiple-choice questions (jind11/MedQA `data_clean/questions/...`), one JSON per line.

jind11 layout (Mainland / Taiwan / US, also `4_options/`):
    {"question": "...（　　）。", "options": {"A": "...", ..., "E": "..."},
     "answer": "<option TEXT>", "answer_idx": "C", "meta_info": "第一部分　基础医学综合"}
bigbio/med_qa source schema: the same keys, but `options` is a list of
    [{"key": "A", "value": "..."}, ...].

`path` is one .jsonl file (e.g. Mainland/train.jsonl). Each valid line becomes:
    instruction  the question, the options one per line ("A. text"), then a line asking
                 for the option letter (Chinese when the question contains CJK, else English)
    output       "答案：C. <option text>"  (English questions: "Answer: C. <option text>")
    meta         {"question", "options", "answer": "C", "subject": meta_info, "answer_idx", "meta_info"}
Rejects: bad JSON, missing question or options, malformed options, answer_idx not among
the option keys, `answer` text that disagrees with the lettered option (when both are
given). With only `answer` given, the letter is recovered from the matching option.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_jsonl, text_field

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
ASK_ZH = "请选出正确答案，只需回答选项字母。"
ASK_EN = "Choose the correct answer and reply with the option letter."


def _squash(text: str) -> str:
    """Compare texts ignoring all whitespace (incl. the full-width space)."""
    return "".join(text.split())


def _options(raw) -> dict[str, str] | str:
    """Options as an ordered {letter: text}; a string is the reason they are unusable."""
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            if not isinstance(item, dict) or "key" not in item or "value" not in item:
                return "bad options: list items must be {key, value} objects"
            pairs.append((item["key"], item["value"]))
    else:
        return "missing or empty 'options'"
    if not pairs:
        return "missing or empty 'options'"
    options: dict[str, str] = {}
    for key, value in pairs:
        key = key.strip() if isinstance(key, str) else ""
        if not key:
            return "bad options: empty or non-string option key"
        if key in options:
            return f"bad options: duplicate option key {key!r}"
        if not isinstance(value, str) or not value.strip():
            return f"bad options: option {key} has no text"
        options[key] = value.strip()
    return options


def _convert(obj: dict, where: str) -> Example | str:
    question = text_field(obj, "question")
    if question is None:
        return "missing or empty 'question'"
    options = _options(obj.get("options"))
    if isinstance(options, str):
        return options
    letter, answer = text_field(obj, "answer_idx"), text_field(obj, "answer")
    if letter is None and answer is None:
        return "missing 'answer_idx' and 'answer'"
    if letter is None:  # recover the letter from the answer text
        matches = [k for k, v in options.items() if _squash(v) == _squash(answer)]
        if len(matches) != 1:
            return f"answer text matches no single option: {len(matches)} matches"
        letter = matches[0]
    if letter not in options:
        return f"answer_idx not among option keys: {letter!r} not in {''.join(options)}"
    if answer is not None and _squash(answer) != _squash(options[letter]):
        return (f"answer text inconsistent with option: option {letter} is "
                f"{options[letter][:40]!r}, answer is {answer[:40]!r}")
    chinese = bool(CJK.search(question))
    lines = [question, *(f"{k}. {v}" for k, v in options.items()), ASK_ZH if chinese else ASK_EN]
    output = f"{'答案：' if chinese else 'Answer: '}{letter}. {options[letter]}"
    return Example(instruction="\n".join(lines), output=output, source=where,
                   meta={"question": question, "options": options, "answer": letter,
                         "subject": obj.get("meta_info"), "answer_idx": letter, "meta_info": obj.get("meta_info")})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_jsonl(path), _convert)
