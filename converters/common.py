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
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator


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


@dataclass
class Reject:
    file: str
    line: int
    reason: str
    raw: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def text_field(obj: dict, key: str) -> str | None:
    """A non-empty string field, stripped; None when missing, empty or not a string."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def read_jsonl(path: Path) -> Iterator[tuple[int, dict | Reject]]:
    """Yield (line number, object) for each non-blank line; Reject for undecodable ones."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield number, Reject(str(path), number, "not UTF-8", raw[:200].decode("utf-8", "replace"))
                continue
            except json.JSONDecodeError as exc:
                yield number, Reject(str(path), number, f"bad JSON: {exc.msg}", raw[:200].decode("utf-8", "replace"))
                continue
            if not isinstance(obj, dict):
                yield number, Reject(str(path), number, "line is not a JSON object", raw[:200].decode("utf-8", "replace"))
                continue
            yield number, obj
