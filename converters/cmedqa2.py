"""cMedQA2 (zhangsheng93/cMedQA2) and cMedQA v1 (zhangsheng93/cMedQA) answer-selection data.

`path` is a DIRECTORY holding the files, extracted or still zipped (question.zip,
answer.zip, dev_candidates.zip, ... for v2; questions.csv.zip, ... for v1). A plain file
wins over a zip member of the same name; `__MACOSX/` and `._*` zip entries are ignored.
All files are comma-separated with a header row and integer ids:
    question.csv  (v1 questions.csv)   question_id,content
    answer.csv    (v1 answers.csv)     ans_id,question_id,content
    train_candidates.txt               question_id,pos_ans_id,neg_ans_id  (positives repeat)
    dev_candidates.txt, test_candidates.txt   question_id,ans_id,cnt,label  (1 = correct)
Encoding per file: UTF-8 (BOM allowed), else GB18030; rows that still hold undecodable
bytes are rejected. Extra commas in an unquoted last field are kept as part of the content.

One Example per distinct (question, correct answer) pair: instruction = question,
output = answer, meta = {"split": "train"|"validation"|"test" (the official split),
"question_id", "ans_id"}. Rejects: malformed rows, dangling ids, a positive answer
filed under another question, empty content, undecodable bytes, missing files, zip members
that fail their CRC check ("corrupted zip member": a corrupted question/answer table ends the read).
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from converters.common import Example, Reject
from converters.encoding import GARBLED

QUESTIONS, ANSWERS = ("question.csv", "questions.csv"), ("answer.csv", "answers.csv")
CANDIDATES = (("train_candidates.txt", "train", 3), ("dev_candidates.txt", "validation", 4),
              ("test_candidates.txt", "test", 4))
BAD_BYTES = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" leaves for bad bytes


def _locate(root: Path, stack: ExitStack) -> tuple[dict[str, tuple[str, Callable]], list[Reject]]:
    """basename -> (display name, binary opener) over root's files and its zips' members."""
    found: dict[str, tuple[str, Callable]] = {}
    problems = []
    for zpath in sorted(root.glob("*.zip")):
        try:
            archive = stack.enter_context(zipfile.ZipFile(zpath))
        except (zipfile.BadZipFile, OSError) as exc:
            problems.append(Reject(str(zpath), 0, f"unreadable zip: {exc}"))
            continue
        for info in archive.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or info.filename.startswith("__MACOSX/") or base.startswith("._"):
                continue
            found.setdefault(base, (f"{zpath}!{info.filename}", partial(archive.open, info)))
    for file in root.iterdir():
        if file.is_file() and file.suffix != ".zip":
            found[file.name] = (str(file), partial(file.open, "rb"))
    return found, problems


def _encoding(opener: Callable) -> str:
    """utf-8-sig if it all decodes, else gb18030; failing both, the one that got further."""
    reached = {}
    for encoding in ("utf-8-sig", "gb18030"):
        decoder, done = codecs.getincrementaldecoder(encoding)(), 0
        try:
            with opener() as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    decoder.decode(chunk)
                    done += len(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError as exc:
            reached[encoding] = done + exc.start
    return max(reached, key=reached.get)


def _rows(name: str, opener: Callable, width: int, ids: int) -> Iterator[tuple[int, list | Reject]]:
    """(first line of the record, fields) with the first `ids` fields as ints; header skipped.
    A zip member that fails its CRC check is one Reject at line 0 (found while the encoding is
    sniffed, which reads the whole member before any row is given out)."""
    try:
        yield from _parse(name, opener, width, ids)
    except zipfile.BadZipFile as exc:
        yield 0, Reject(name, 0, f"corrupted zip member: {exc}")


def _parse(name: str, opener: Callable, width: int, ids: int) -> Iterator[tuple[int, list | Reject]]:
    with opener() as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding=_encoding(opener),
                                             errors="surrogateescape", newline=""))
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            text = BAD_BYTES.sub("\ufffd", ",".join(row))[:200]
            if (line == 1 and row and not row[0].strip().isdigit()) or not "".join(row).strip():
                continue  # header or blank line
            if ids < width and len(row) > width:  # unquoted commas in the trailing content
                row = row[:width - 1] + [",".join(row[width - 1:])]
            if len(row) != width:
                yield line, Reject(name, line, f"bad row: expected {width} columns, got {len(row)}", text)
            elif not all(field.strip().isdigit() for field in row[:ids]):
                yield line, Reject(name, line, "bad row: non-integer id", text)
            else:
                yield line, [int(f) for f in row[:ids]] + row[ids:]


def _table(found, names, width, rejects) -> tuple[str, dict] | None:
    """{id: (line, fields...)} for question/answer csv; None when the file is missing."""
    name = next((n for n in names if n in found), None)
    if name is None:
        return None
    display, opener = found[name]
    table: dict[int, tuple] = {}
    for line, row in _rows(display, opener, width, width - 1):
        if isinstance(row, Reject):
            rejects.append(row)
            if row.reason.startswith("corrupted zip member"):
                return None  # unusable: reported, and the pairs it would give are not read
        elif row[0] in table:
            rejects.append(Reject(display, line, f"duplicate id: {row[0]} first on line {table[row[0]][0]}"))
        else:
            table[row[0]] = (line, *row[1:])
    return display, table


def _content(display: str, entry: tuple, kind: str, ident: int, pair: str) -> str | Reject:
    """The stripped text of a table entry, or a Reject at its csv row naming the pair it cost."""
    line, text = entry[0], entry[-1]
    if BAD_BYTES.search(text):
        return Reject(display, line, f"undecodable bytes: {kind} {ident} is neither UTF-8 nor GB18030 ({pair})",
                      BAD_BYTES.sub("\ufffd", text)[:200])
    if GARBLED.search(text):  # e.g. Big5 bytes read as GB18030 come out as private-use characters
        return Reject(display, line, f"garbled row: {kind} {ident} decodes to U+{ord(GARBLED.search(text).group()):04X}"
                      f" (a wrong encoding) ({pair})", text[:200])
    if not text.strip():
        return Reject(display, line, f"empty {kind} content: {kind}_id {ident} ({pair})")
    return text.strip()


def read(path: Path) -> Iterator[Example | Reject]:
    root = Path(path)
    if not root.is_dir():
        yield Reject(str(root), 0, "not a directory: cmedqa needs the dataset folder (csv/txt or zips)")
        return
    with ExitStack() as stack:
        found, rejects = _locate(root, stack)
        questions = _table(found, QUESTIONS, 2, rejects)
        answers = _table(found, ANSWERS, 3, rejects)
        yield from rejects
        for table, names in ((questions, QUESTIONS), (answers, ANSWERS)):
            if table is None and not any(n in found for n in names):
                yield Reject(str(root), 0, f"missing file: none of {'/'.join(names)} in {root} or its zips")
        if questions is None or answers is None:
            return
        (q_name, q_table), (a_name, a_table) = questions, answers
        q_file, a_file = Path(q_name).name, Path(a_name).name
        for file, split, width in CANDIDATES:
            if file not in found:
                yield Reject(str(root), 0, f"missing file: {file} not in {root} or its zips")
                continue
            display, seen = found[file][0], set()
            for line, row in _rows(display, found[file][1], width, width):
                if isinstance(row, Reject):
                    yield row
                    continue
                qid, aid = row[0], row[1]
                if width == 4 and row[3] not in (0, 1):
                    yield Reject(display, line, f"bad label: {row[3]} (expected 0 or 1)", ",".join(map(str, row)))
                if (width == 4 and row[3] != 1) or (qid, aid) in seen:
                    continue
                seen.add((qid, aid))
                raw = ",".join(map(str, row))
                if qid not in q_table:
                    yield Reject(display, line, f"dangling question_id: {qid} not in {q_file}", raw)
                elif aid not in a_table:
                    yield Reject(display, line, f"dangling ans_id: {aid} not in {a_file}", raw)
                elif a_table[aid][1] != qid:
                    yield Reject(display, line, f"answer of another question: ans_id {aid} belongs to "
                                 f"question_id {a_table[aid][1]}", raw)
                else:
                    pair = f"{split} pair {qid}/{aid}, {Path(display).name} line {line}"
                    question = _content(q_name, q_table[qid], "question", qid, pair)
                    answer = _content(a_name, a_table[aid], "answer", aid, pair)
                    bad = next((x for x in (question, answer) if isinstance(x, Reject)), None)
                    yield bad or Example(instruction=question, output=answer, source=f"{Path(display).name}:{line}",
                                         meta={"split": split, "question_id": qid, "ans_id": aid})
