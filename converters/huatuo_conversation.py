"""Multi-turn consultations written as plain lists of turns (HuatuoGPT-II style, doctor-patient dialogues).

A JSON array (streamed; "line" = 1-based item index) or JSONL (common.read_json_records). Each conversation is a list of
strings, patient first, turns alternating:
    ["问一", "答一", "问二", "答二", ...]                  (HuatuoGPT-II's [["问","答",...], ...] files)
or an object holding that list under "conversation", "data" or "dialogue" (+ optional "system"):
    {"id": 7, "data": ["问：...", "答：...", ...]}
    {"dialogue": ["病人：...", "医生：...", ...]}           (MedDialog-style transcripts)
A turn may carry a speaker label, which is checked against its position and dropped:
    patient   问 / 病人 / 患者 / 用户 / Patient / User       doctor   答 / 医生 / 大夫 / Doctor / Assistant
followed by ： or :. Unlabelled turns take their role from their position.
Each valid conversation becomes one Example that keeps every round (converters/turns.py):
    instruction  the last patient turn      output  the doctor's final answer
    system       "system" or ""
    meta         {"history": [[patient, doctor], ...] earlier rounds, "question": the first
                  patient turn, "turns": number of turns}
Rejects: bad JSON, an item that is neither a list nor an object with one of the keys, a turn
that is not a string ("bad turn"), a speaker label at the wrong position ("wrong role order"),
an empty turn, a conversation ending on the patient, an empty conversation.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field
from converters.turns import rounds

KEYS = ("conversation", "data", "dialogue")
PATIENT = ("问", "病人", "患者", "用户", "patient", "user")
DOCTOR = ("答", "医生", "大夫", "doctor", "assistant")
LABEL = re.compile(r"^\s*(" + "|".join(PATIENT + DOCTOR) + r")\s*[:：]\s*", re.IGNORECASE)


def _turns(raw) -> list[tuple[str, str]] | str:
    if not isinstance(raw, list) or not raw:
        return f"missing or empty conversation: expected a list of turns under one of {', '.join(KEYS)}"
    turns = []
    for n, text in enumerate(raw, start=1):
        if not isinstance(text, str):
            return f"bad turn: turn {n} is not a string"
        position = "human" if n % 2 else "gpt"
        match = LABEL.match(text)
        if match:
            labelled = "human" if match.group(1).lower() in PATIENT else "gpt"
            if labelled != position:
                who = "patient" if labelled == "human" else "doctor"
                return f"wrong role order: turn {n} is labelled {match.group(1)!r} ({who}) where the " \
                       f"{'patient' if position == 'human' else 'doctor'} speaks"
            text = text[match.end():]
        turns.append((position, text))
    return turns


def _convert(obj, where: str) -> Example | str:
    system = ""
    if isinstance(obj, dict):
        key = next((k for k in KEYS if k in obj), None)
        if key is None:
            return f"missing or empty conversation: expected a list of turns under one of {', '.join(KEYS)}"
        system, obj = text_field(obj, "system") or "", obj[key]
    turns = _turns(obj)
    if isinstance(turns, str):
        return turns
    found = rounds(turns, system)
    if isinstance(found, str):
        for model_word, ours in (("gpt", "doctor"), ("human", "patient")):
            found = found.replace(f"from {model_word}", f"from the {ours}").replace(f"({model_word})", f"({ours})")
        return found
    question = found.history[0][0] if found.history else found.question
    return Example(instruction=found.question, output=found.answer, system=found.system, source=where,
                   meta={"history": found.history, "question": question, "turns": len(turns)})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path, objects_only=False), _convert)
