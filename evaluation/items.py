"""Evaluation items: read the eval JSONL files, keep the valid items, reject the rest with reasons.

An item is one line of <run_dir>/data/eval/<dataset>.jsonl as `make data` writes it
(converters/build.py, eval_item):
    {id, dataset, format, kind, question, prompt, system, reference, source,
     options?, answer?, subject?}
plus, optionally, what only hand-made sets carry:
    gold_doc_ids   corpus document ids of the passages that answer the question (RAG hit@k)
    gold_passages  their texts, when the ids are not known
    facts          key phrases that carry the answer (the grounded suite, evaluation/grounded.py),
                   with topic and passage_id

Checks (a failing line goes to rejects with file, line and reason; the rest is kept):
  * the line is a JSON object; `id` is a non-empty string not seen before in any set
  * `kind` is one of KINDS; `prompt` is a non-empty string; `reference` and `system`
    are strings (or absent / null)
  * choice: `options` maps letters A..Z to non-empty texts, `answer` is one or more
    of those letters
  * label: `answer` is yes, no or maybe
eval.limit keeps the first N valid items of each file (file order, so every target
and every rerun sees the same items).

Run as (prints counts and rejects):
    python -m evaluation.items runs/quickstart/data/eval/*.jsonl
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Iterable, Optional

from core.jsonl import Reject, read_jsonl
from core.stage import command_status

KINDS = ("choice", "label", "open", "refusal", "noisy-context")
LABELS = ("yes", "no", "maybe")
_LETTER = re.compile(r"^[A-Z]$")


def check(obj: object) -> Optional[str]:
    """None when `obj` is a usable item, else the reason it is not."""
    if not isinstance(obj, dict):
        return f"not a JSON object ({type(obj).__name__})"
    if not isinstance(obj.get("id"), str) or not obj["id"].strip():
        return "missing or empty 'id'"
    kind = obj.get("kind")
    if kind not in KINDS:
        return f"kind {kind!r} is not one of {', '.join(KINDS)}"
    if not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
        return "missing or empty 'prompt'"
    for key in ("reference", "system", "question", "subject", "dataset"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            return f"'{key}' must be a string, got {type(obj[key]).__name__}"
    if kind == "choice":
        options = obj.get("options")
        if not isinstance(options, dict) or not options:
            return "choice item without 'options' ({letter: text})"
        bad = [k for k, v in options.items() if not _LETTER.match(str(k)) or not isinstance(v, str) or not v.strip()]
        if bad:
            return f"bad options {bad}: keys must be single letters A-Z with non-empty texts"
        answer = obj.get("answer")
        if not isinstance(answer, str) or not answer or any(c not in options for c in answer):
            return f"answer {answer!r} is not made of option letters {''.join(options)}"
    if kind == "label" and obj.get("answer") not in LABELS:
        return f"label item answer {obj.get('answer')!r} is not one of {', '.join(LABELS)}"
    facts = obj.get("facts")
    if facts is not None and not (isinstance(facts, list) and facts and all(isinstance(f, str) and f.strip()
                                                                           for f in facts)):
        return "'facts' must be a non-empty list of non-empty strings (the grounded suite's key phrases)"
    for key in ("gold_doc_ids", "gold_passages"):
        value = obj.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f"'{key}' must be a list of strings"
    return None


def read_file(path: Path, seen: set[str], limit: Optional[int]) -> tuple[list[dict], list[Reject]]:
    items: list[dict] = []
    rejects: list[Reject] = []
    for number, obj in read_jsonl(path):
        if isinstance(obj, Reject):  # not UTF-8, not JSON, not an object
            rejects.append(obj)
            continue
        reason = check(obj)
        if reason is None and obj["id"] in seen:
            reason = f"duplicate id {obj['id']!r} (already read from an earlier line or set)"
        if reason:
            rejects.append(Reject(str(path), number, reason, json.dumps(obj, ensure_ascii=False)[:200]))
            continue
        if limit is not None and len(items) >= limit:
            continue  # still checked, so rejects are reported for the whole file
        seen.add(obj["id"])
        obj.setdefault("dataset", path.stem)
        obj.setdefault("source", f"{path.name}:{number}")
        items.append(obj)
    return items, rejects


def load(paths: Iterable[Path], limit: Optional[int] = None) -> tuple[list[dict], list[Reject]]:
    """Valid items of every file, in order (at most `limit` per file), and the rejected lines."""
    items: list[dict] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    for path in paths:
        kept, bad = read_file(Path(path), seen, limit)
        items += kept
        rejects += bad
    return items, rejects


def main(argv: list[str]) -> int:
    items, rejects = load([Path(p) for p in argv])
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    print(f"{len(items)} items {kinds}; {len(rejects)} rejected")
    for r in rejects:
        print(f"   {r.file}:{r.line}: {r.reason}")
    return 0 if items else 1


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
