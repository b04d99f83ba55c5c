"""Toyhom's per-department text files (Chinese-medical-dialogue-data, `Data_数据/<科室>/<科室>.txt`).

The repository's own script writes the first 5,000 rows of each department CSV as blocks
    <title>,<ask>
    <answer>
    (two blank lines)
so `path` is one such .txt or a folder of them (in name order). The files are GB18030 like the
CSVs; each block is decoded on its own (converters/encoding.py: UTF-8 where its bytes are,
else the file's legacy codec), so one garbled block is rejected alone. The first line is split
at its first ASCII comma (the script's join; Chinese text uses "，") into title and ask, and the
question is built as for the CSVs (dialogue_csv.question: an ask of "无" leaves the title alone).
The lines after it are the answer, line breaks kept. Each block becomes:
    instruction  the question        output  the answer
    meta         {"question", "subject": the file's stem (the department), "title"}
Rejects: a block with no answer line ("no answer"), no question, an undecodable or garbled
block, a file that is not .txt, a missing path or a folder without .txt files (line 0). A block's line is the file line
it starts on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, line_blocks, txt_files
from converters.dialogue_csv import question
from converters.encoding import decode_row, legacy_encoding, preview


def _convert(lines: list[str], subject: str, where: str) -> Example | str:
    head, *answer = lines
    title, _, ask = head.strip().partition(",")
    asked = question(title.strip(), ask.strip())
    text = "\n".join(line.strip() for line in answer).strip()
    if asked is None:
        return "no question: the first line's title and ask are empty or say nothing"
    if not text:
        return "no answer: a block needs the question line and at least one answer line"
    return Example(instruction=asked, output=text, source=where,
                   meta={"question": asked, "subject": subject, "title": title.strip() or None})


def read(path: Path) -> Iterator[Example | Reject]:
    files = txt_files(Path(path))
    if isinstance(files, Reject):
        yield files
        return
    for file in files:
        if file.suffix.lower() != ".txt":  # the department folders also hold the CSV and a script
            yield Reject(str(file), 0, "not a .txt file: dialogue-txt reads the department .txt files "
                                       "(the CSVs are format dialogue-csv)")
            continue
        legacy = legacy_encoding(file)
        with file.open(encoding="latin-1", newline=None) as fh:  # bytes as characters: decoded per block below
            for line, raw in line_blocks(fh):
                decoded = decode_row(raw, legacy)
                where = f"{file}:{line}"
                result = decoded if isinstance(decoded, str) else _convert(decoded, file.stem, where)
                yield Reject(str(file), line, result, preview(raw, legacy)) if isinstance(result, str) else result
