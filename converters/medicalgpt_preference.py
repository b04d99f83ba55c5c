"""MedicalGPT preference pairs (shibing624/MedicalGPT `data/reward/*.jsonl`), one JSON per line.

Two layouts, sniffed per line:
    {"question": "...", "response_chosen": "...", "response_rejected": "...",
     "system"?: "...", "history"?: [["q1", "a1"], ...]}                       (older releases)
    {"conversations": [{"from": "system"|"human"|"gpt", "value": "..."}, ...],
     "chosen": "...", "rejected": "...", "system"?: "..."}                  (current release;
     the last human turn is the question, earlier human/gpt pairs the history)
Each valid line becomes one Example that carries both answers:
    instruction  the question            output  the chosen answer (what SFT may learn)
    system       system or ""
    meta         {"question", "history": [[q, a], ...], "rejected": the rejected answer}
`make data` and `make convert` write the pairs beside the SFT rows as LLaMA-Factory ranking and
KTO datasets (converters/pairs.py, the one pair check and writer every pair source shares) for
the preference stage; five-section restructuring leaves pairs alone so that chosen and rejected
stay comparable.
Rejects: bad JSON, a missing or empty question / chosen / rejected, chosen equal to rejected
("no preference"), a history that is not a list of [question, answer] string pairs, turns
that do not alternate human/gpt.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field
from converters.pairs import make_pair

ROLES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt", "system": "system"}


def _history(raw) -> list[list[str]] | str:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2
                                            and all(isinstance(t, str) and t.strip() for t in p) for p in raw):
        return "bad history: expected a list of [question, answer] string pairs"
    return [[q.strip(), a.strip()] for q, a in raw]


def _from_conversations(obj: dict) -> tuple[str, str, list[list[str]]] | str:
    """(question, system, history) from a conversations list ending on a human turn."""
    turns = obj.get("conversations")
    if not isinstance(turns, list) or not turns:
        return "missing or empty 'conversations'"
    system, texts = text_field(obj, "system") or "", []
    for n, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            return f"bad turn: turn {n} is not a {{from, value}} object with a string"
        role = ROLES.get(str(turn.get("from", "")).lower())
        if role == "system" and n == 1:
            system = turn["value"].strip()
            continue
        expected = "human" if len(texts) % 2 == 0 else "gpt"
        if role != expected or not turn["value"].strip():
            return f"not alternating: turn {n} is from {turn.get('from')!r}, expected {expected}"
        texts.append(turn["value"].strip())
    if len(texts) % 2 == 0:
        return "last turn not from human: the question must be the last turn"
    return texts[-1], system, [[texts[i], texts[i + 1]] for i in range(0, len(texts) - 1, 2)]


def _convert(obj: dict, where: str) -> Example | str:
    if "conversations" in obj:
        found = _from_conversations(obj)
        if isinstance(found, str):
            return found
        question, system, history = found
        chosen, rejected = obj.get("chosen"), obj.get("rejected")
        names = ("chosen", "rejected")
    else:
        question, system = text_field(obj, "question"), text_field(obj, "system") or ""
        if question is None:
            return "missing or empty 'question'"
        history = _history(obj.get("history"))
        if isinstance(history, str):
            return history
        chosen, rejected = obj.get("response_chosen"), obj.get("response_rejected")
        names = ("response_chosen", "response_rejected")
    return make_pair(question, chosen, rejected, where, names=("question", *names), system=system, history=history)


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), _convert)
