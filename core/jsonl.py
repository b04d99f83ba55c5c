"""JSON Lines with rejects: every malformed line becomes a Reject (file, 1-based line, reason), never
dropped silently. Used by the converters, the evaluation items and the index's corpus."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator


@dataclass
class Reject:
    file: str
    line: int
    reason: str
    raw: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def read_jsonl(path: Path, objects_only: bool = True) -> Iterator[tuple[int, dict | Reject]]:
    """Yield (line number, object) for each non-blank line; Reject for undecodable ones (and, with
    objects_only, for a line that is not a JSON object)."""
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
            if objects_only and not isinstance(obj, dict):
                yield number, Reject(str(path), number, "line is not a JSON object", raw[:200].decode("utf-8", "replace"))
                continue
            yield number, obj


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """`rows` as JSON Lines (UTF-8, not ASCII-escaped); how many were written."""
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
