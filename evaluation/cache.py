"""The on-disk response cache that makes an evaluation resumable.

One JSON Lines file per target under <run_dir>/eval/cache/<target>.jsonl. Every
response is appended as ONE line, written with a single os.write on a file opened
O_APPEND and flushed to the OS at once, so a killed process loses at most the
requests still in flight; a line cut short by the kill is ignored on the next load.
Failures are never cached: a rerun asks again.

The key is sha256 of (target name, model, base URL, item id, prompt variant, params),
params being the sampling settings (temperature, seed, max_tokens, stream) and the
sha256 of the exact messages sent, so a changed system prompt, minimal prompt or
item text is a different key, never a stale answer.

Run as (lists what a cache holds):
    python -m evaluation.cache runs/quickstart/eval/cache/sft.jsonl
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from core.stage import command_status


def request_key(target: str, model: str, base_url: str, item_id: str, variant: str, params: dict) -> str:
    blob = json.dumps([target, model, base_url.rstrip("/"), item_id, variant, params],
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def messages_digest(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def file_name(target: str) -> str:
    """A safe file name for a target name (sft+rag -> sft+rag.jsonl; anything odd -> _)."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", target) + ".jsonl"


class Cache:
    """Responses by key for one target, loaded at start, appended as they arrive."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, dict[str, Any]] = {}
        self.broken_lines = 0
        if self.path.exists():
            with self.path.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        record = json.loads(line)
                        self.entries[record["key"]] = record
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.broken_lines += 1  # the tail of a killed run
        self._fd: int | None = None

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, record: dict[str, Any]) -> None:
        """Store `record` (it must carry its `key`) and append it to the file at once."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if self._ends_mid_line():
                os.write(self._fd, b"\n")  # never glue a new record onto a cut-short line
        line = json.dumps(record, ensure_ascii=False) + "\n"
        os.write(self._fd, line.encode("utf-8"))
        self.entries[record["key"]] = record

    def _ends_mid_line(self) -> bool:
        size = self.path.stat().st_size
        if not size:
            return False
        with self.path.open("rb") as fh:
            fh.seek(size - 1)
            return fh.read(1) != b"\n"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str]) -> int:
    for name in argv:
        cache = Cache(Path(name))
        variants: dict[str, int] = {}
        for record in cache.entries.values():
            variants[record.get("variant", "?")] = variants.get(record.get("variant", "?"), 0) + 1
        print(f"{name}: {len(cache.entries)} responses {variants}"
              + (f", {cache.broken_lines} cut-short line(s) ignored" if cache.broken_lines else ""))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
