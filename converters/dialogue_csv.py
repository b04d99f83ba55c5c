"""Chinese medical dialogue CSVs (Toyhom/Chinese-medical-dialogue-data, `Data_数据/<科室>/*.csv`).

`path` is one CSV file such as `IM_内科/内科5000-33000.csv`. Header row
    department,title,ask,answer
(the project README calls the third column "question"; that spelling is accepted too, and
the columns are found by name). The files are GB18030/GBK; encodings are decided per file
and checked per row (converters/encoding.py): a UTF-8 row inside a GBK file is read as UTF-8,
a Big5 file is read as Big5, a row that would come out garbled is rejected alone.
Fields containing commas, quotes or newlines are quoted, so rows are parsed with the csv
module and a row's "line" is the file line it starts on.

The question. `title` is the patient's own headline ("小孩癫痫有什么特征") and `ask` the
description; many rows carry the question only in the title and an `ask` of "无":
    ask empty or uninformative (UNINFORMATIVE, e.g. "无", "如题")  -> title
    title empty, or ask already contains the title                  -> ask
    otherwise                                                       -> title + "\n" + ask
Each valid row becomes:
    instruction  the question above        output  answer (stripped)
    meta         {"question": the question, "subject": department or None,
                  "title": title or None}
Rejects: a header without the four columns ("bad header", line 1, nothing else is read),
a row with the wrong number of fields ("bad row"), a row that does not decode or decodes to
garbage ("undecodable row", "garbled row"), no question (title and ask both empty or
uninformative) or an empty answer.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject
from converters.encoding import csv_rows, decode_row, legacy_encoding, preview

COLUMNS = ("department", "title", "ask", "answer")
ALIASES = {"question": "ask"}
# asks that say nothing: the question is then in the title alone
UNINFORMATIVE = re.compile(r"^(?:无|無|没有|沒有|暂无|暫無|如题|如題|同上|见标题|見標題|标题|標題|[?？。.,，!！\s])*$")


def _squash(text: str) -> str:
    return re.sub(r"[\s，,。.？?！!、]", "", text)


def question(title: str, ask: str) -> str | None:
    """The question of a row from its title and ask (None when both are empty or say nothing)."""
    title_ok = bool(title) and not UNINFORMATIVE.fullmatch(title)
    ask_ok = bool(ask) and not UNINFORMATIVE.fullmatch(ask)
    if not ask_ok:
        return title if title_ok else None
    if not title_ok or _squash(title) in _squash(ask):
        return ask
    return f"{title}\n{ask}"


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    legacy = legacy_encoding(path)
    rows = csv_rows(path)
    first = next(rows, None)
    if first is None:
        yield Reject(str(path), 0, "empty file: no header row")
        return
    _, header = first
    header = decode_row(header, legacy) if isinstance(header, list) else header
    if isinstance(header, str):  # a csv error, a UTF-16 file, an undecodable header
        yield Reject(str(path), 1, header)
        return
    names = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        yield Reject(str(path), 1, f"bad header: missing column(s) {', '.join(missing)}", ",".join(header)[:200])
        return
    index = {c: names.index(c) for c in COLUMNS}
    for line, row in rows:
        if isinstance(row, str):
            yield Reject(str(path), line, row)
            continue
        if not "".join(row).strip():
            continue  # blank line
        if len(row) != len(header):
            yield Reject(str(path), line, f"bad row: expected {len(header)} columns, got {len(row)}",
                         preview(row, legacy))
            continue
        fields = decode_row(row, legacy)
        if isinstance(fields, str):
            yield Reject(str(path), line, fields, preview(row, legacy))
            continue
        value = {c: fields[i].strip() for c, i in index.items()}
        asked = question(value["title"], value["ask"])
        if asked is None:
            yield Reject(str(path), line, "missing or empty 'ask' and 'title'", ",".join(fields)[:200])
        elif not value["answer"]:
            yield Reject(str(path), line, "missing or empty 'answer'", ",".join(fields)[:200])
        else:
            yield Example(instruction=asked, output=value["answer"], source=f"{path.name}:{line}",
                          meta={"question": asked, "subject": value["department"] or None,
                                "title": value["title"] or None})
