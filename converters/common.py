"""Shared records and small helpers for the converters.

A converter yields three kinds of records:
  Example   one SFT example (alpaca columns). Keys of `meta` with a fixed meaning:
              split     official split of the source ("train" | "validation" | "test")
              question  the bare question (without options or instructions)
              options   {"A": text, ...} for multiple choice
              answer    gold answer: letter(s) such as "C" or "ABD", or a label (yes/no/maybe)
              subject   a category / department / meta_info used for breakdowns
            Examples that land in the test split also become evaluation items.
  Document  one RAG corpus passage (textbook paragraph, abstract, ...).
  Reject    a malformed row: file, 1-based line, reason. Never dropped silently.

Readers yield (line number, object | Reject) pairs: read_jsonl (JSON Lines),
read_json_records (a JSON array streamed item by item, or JSONL, sniffed) and csv_records
(CSV rows of a fixed width). convert_records runs a format's `convert(obj, where)` over
such pairs, passing Rejects through and turning a returned reason string into a Reject.
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

from core.jsonl import Reject, read_jsonl  # noqa: F401  (shared with evaluation/ and serve/rag/)


@dataclass
class Example:
    """One supervised example in LLaMA-Factory's alpaca columns."""
    instruction: str
    output: str
    input: str = ""
    system: str = ""
    source: str = ""                      # "<file>:<line>" it came from
    meta: dict = field(default_factory=dict)  # category, difficulty, ... (kept out of LF files)

    def to_alpaca(self) -> dict:
        row = {"instruction": self.instruction, "input": self.input, "output": self.output}
        if self.system:
            row["system"] = self.system
        return row


@dataclass
class Document:
    """One RAG corpus passage; `doc_id` is stable across runs (hash of title and text)."""
    title: str
    text: str
    source: str = ""                       # "<file>:<line>"
    metadata: dict = field(default_factory=dict)

    @property
    def doc_id(self) -> str:
        return hashlib.sha1(f"{self.title}\x00{self.text}".encode("utf-8")).hexdigest()[:16]

    def to_json(self) -> dict:
        return {"id": self.doc_id, "title": self.title, "text": self.text, "source": self.source,
                "metadata": self.metadata}


def txt_files(root: Path) -> list[Path] | Reject:
    """The .txt files of a plain-text source: the file itself, or every *.txt directly in a folder in name
    order (macOS `._*` companions skipped); a Reject (line 0) for a missing path or a folder without any."""
    if not root.exists():
        return Reject(str(root), 0, "missing path: no such file or directory")
    if root.is_file():
        return [root]
    files = sorted(p for p in root.glob("*.txt") if p.is_file() and not p.name.startswith("._"))
    return files or Reject(str(root), 0, f"no .txt files: nothing to read in {root}")


def line_blocks(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(1-based first line, its lines without line ends) per block of non-blank lines: plain-text sources
    separate passages (text-corpus) and question/answer blocks (dialogue-txt) by blank lines."""
    block, first = [], 0
    for number, line in enumerate(itertools.chain(lines, [""]), start=1):
        if line.strip():
            first = first or number
            block.append(line.rstrip("\r\n"))
        elif block:
            yield first, block
            block, first = [], 0


def text_field(obj: dict, key: str) -> str | None:
    """A non-empty string field, stripped; None when missing, empty or not a string."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def text_fields(obj: dict, *keys: str) -> list[str] | str:
    """text_field of each key, in order; the reason "missing or empty '<key>'" for the first missing one."""
    values = [text_field(obj, key) for key in keys]
    missing = next((key for key, value in zip(keys, values) if value is None), None)
    return values if missing is None else f"missing or empty '{missing}'"


CHUNK = 1 << 20                 # characters read at a time when streaming a JSON array
BLANK = "\ufeff \t\r\n"        # what may precede the "[" of a JSON array (BOM included)


def _array_items(path: Path, chunk: int, objects_only: bool = True) -> Iterator[tuple[int, dict | Reject]]:
    """Stream the items of a top-level JSON array with raw_decode over a sliding buffer."""
    decoder, index = json.JSONDecoder(), 0
    with path.open(encoding="utf-8") as fh:
        try:
            buf, pos, eof = fh.read(chunk).lstrip(BLANK)[1:], 0, False  # drop the "["
            while True:
                while pos < len(buf) and buf[pos] in BLANK + ",":
                    pos += 1
                if pos >= len(buf) and not eof:
                    buf, pos = fh.read(chunk), 0
                    eof = not buf
                    continue
                if pos < len(buf) and buf[pos] == "]":
                    return
                if eof:
                    yield index + 1, Reject(str(path), index + 1, "bad JSON: array not closed with ']'")
                    return
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    more = fh.read(chunk)  # maybe the item is only cut by the buffer's end
                    if more:
                        buf, pos = buf[pos:] + more, 0
                        continue
                    yield index + 1, Reject(str(path), index + 1,
                                            f"bad JSON: {exc.msg} (rest of file skipped)", buf[pos:pos + 200])
                    return
                index, pos = index + 1, end
                yield index, obj if isinstance(obj, dict) or not objects_only else \
                    Reject(str(path), index, "array item is not an object")
        except UnicodeDecodeError:
            yield index + 1, Reject(str(path), index + 1, "not UTF-8 (rest of file skipped)")


def read_json_records(path: Path, chunk: int | None = None,
                      objects_only: bool = True) -> Iterator[tuple[int, dict | Reject]]:
    """(line number, object) per record of a JSON array or a JSONL file, sniffed.

    A file whose first non-blank character is "[" is a JSON array, streamed item by item
    (no whole-file load); its "line" is the 1-based item index, a non-object item is
    rejected, and bad JSON or bytes that are not UTF-8 reject the rest of the file. Any
    other file is read as JSONL (read_jsonl). `chunk`: characters per read (default CHUNK).
    objects_only=False lets other JSON values through (conversations written as bare lists).
    """
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(4096).lstrip(BLANK)[:1]
    except UnicodeDecodeError:
        head = ""
    yield from (_array_items(path, chunk or CHUNK, objects_only) if head == "[" else read_jsonl(path, objects_only))


BAD_BYTES = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" leaves for bad bytes


def csv_rows(reader) -> Iterator[tuple[int, list[str] | str]]:
    """(line the record starts on, fields), or a csv error message in place of the fields."""
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row = f"bad CSV: {exc}"
        yield start, row
        start = reader.line_num + 1


def csv_text(fields: list[str]) -> str:
    """A row's fields joined by commas, undecodable bytes shown as U+FFFD (a Reject's raw text)."""
    return BAD_BYTES.sub("\ufffd", ",".join(fields))


def csv_records(path: Path, reader, width: int) -> Iterator[tuple[int, list[str] | Reject]]:
    """(line the record starts on, fields) per non-blank row of `reader` (header already read).

    Blank rows are skipped; a csv error ("bad CSV: ...") and a row without exactly `width`
    fields ("bad row: expected N columns, got M") come back as Rejects.
    """
    for line, row in csv_rows(reader):
        if isinstance(row, str):
            yield line, Reject(str(path), line, row)
            continue
        if not "".join(row).strip():
            continue  # blank line
        if len(row) != width:
            yield line, Reject(str(path), line, f"bad row: expected {width} columns, got {len(row)}",
                               csv_text(row)[:200])
            continue
        yield line, row


Record = Union[Example, Document, Reject]


def json_text(obj) -> str:
    """A record as compact JSON text, non-ASCII kept (a Reject's raw text)."""
    return json.dumps(obj, ensure_ascii=False)


def convert_records(path: Path, records: Iterable[tuple[int, object]],
                    convert: Callable[[object, str], Union[Record, Iterable[Record], str]],
                    raw: Callable[[object], str] = json_text) -> Iterator[Record]:
    """Run a format's `convert(obj, "<file name>:<line>")` over (line number, object | Reject) pairs.

    Rejects from the reader pass through unchanged. `convert` returns either the reject
    reason (a string), which becomes Reject(path, line, reason, raw(obj)[:200]), or what to
    emit: one Example / Document, or a list / tuple of them, yielded in order.
    """
    for number, obj in records:
        if isinstance(obj, Reject):
            yield obj
            continue
        result = convert(obj, f"{path.name}:{number}")
        if isinstance(result, str):
            yield Reject(str(path), number, result, raw(obj)[:200])
        elif isinstance(result, (list, tuple)):
            yield from result
        else:
            yield result
