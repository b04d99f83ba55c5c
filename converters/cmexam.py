"""CMExam (williamliujl/CMExam `data/{train,val,test}.csv`): Chinese licensing-exam questions.

UTF-8 CSV (a BOM is tolerated) with a header row; columns are found by name:
    Question, Options, Answer, Explanation, Disease Group, Clinical Department,
    Medical Discipline, Competency, Difficulty level
`Options` is ONE quoted field holding one option per line, "A 解热镇痛" (the letter followed
by a space, "、", ".", "．", ":" or ")"); a line without such a prefix continues the
option above it. `Answer` holds the letter(s), "ACD" for several (see cmb.parse_answer).
Each valid row becomes:
    instruction  the question, "A. text" per option, then ASK
    output       "答案：<letters>" plus "\n解析：<Explanation>" when there is one
    meta         {"question", "options", "answer": letters, "subject": Medical Discipline or
                  else Clinical Department, "disease_group", "clinical_department",
                  "medical_discipline", "competency", "difficulty"} (None when empty)
Rejects: a header without Question/Options/Answer ("bad header", line 1, nothing else read),
rows with the wrong number of fields or bytes that are not UTF-8, an empty question,
options that cannot be parsed ("bad options"), a missing answer or letters not among the
options. A row's "line" is the file line it starts on.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator

from converters.cmb import parse_answer
from converters.common import BAD_BYTES, Example, Reject, convert_records, csv_records, csv_text

ASK = "请选出正确答案，如有多个正确答案请全部选出。"
REQUIRED = ("Question", "Options", "Answer")
EXTRA = {"disease_group": "Disease Group", "clinical_department": "Clinical Department",
         "medical_discipline": "Medical Discipline", "competency": "Competency", "difficulty": "Difficulty level"}
OPTION = re.compile(r"\s*([A-Z])\s*[ 、.．:：)）]\s*(.*)")


def parse_options(text: str) -> dict[str, str]:
    """{letter: text} from the newline-separated Options field; ValueError names the problem."""
    options: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        match = OPTION.fullmatch(line)
        if match:
            last = match.group(1)
            if last in options:
                raise ValueError(f"bad options: duplicate option {last}")
            options[last] = match.group(2).strip()
        elif line.strip():
            if last is None:
                raise ValueError(f"bad options: no option letter in {line.strip()[:40]!r}")
            options[last] = f"{options[last]} {line.strip()}".strip()
    if len(options) < 2:
        raise ValueError(f"bad options: {len(options)} option(s) found")
    empty = [k for k, v in options.items() if not v]
    if empty:
        raise ValueError(f"bad options: option {empty[0]} has no text")
    return options


def _value(row: dict, column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return None if not value or value.lower() == "nan" else value


def _convert(row: dict, where: str) -> Example | str:
    question = _value(row, "Question")
    if question is None:
        return "missing or empty 'Question'"
    try:
        options = parse_options(row.get("Options") or "")
        answer = parse_answer(_value(row, "Answer"), options)
    except ValueError as exc:
        return str(exc).replace("'answer'", "'Answer'")
    explanation = _value(row, "Explanation")
    extra = {key: _value(row, column) for key, column in EXTRA.items()}
    lines = [question, *(f"{k}. {v}" for k, v in options.items()), ASK]
    return Example(instruction="\n".join(lines),
                   output=f"答案：{answer}" + (f"\n解析：{explanation}" if explanation else ""), source=where,
                   meta={"question": question, "options": options, "answer": answer,
                         "subject": extra["medical_discipline"] or extra["clinical_department"], **extra})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            yield Reject(str(path), 1, f"bad header: missing column(s) {', '.join(missing)}", csv_text(header)[:200])
            return

        def convert(fields: list[str], where: str) -> Example | str:
            if BAD_BYTES.search("".join(fields)):
                return "not UTF-8: undecodable bytes in the row"
            return _convert(dict(zip(header, fields)), where)

        yield from convert_records(path, csv_records(path, reader, len(header)), convert, raw=csv_text)
