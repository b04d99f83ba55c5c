"""Consultations written as one string of speaker-labelled lines: "病人：…\\n医生：…".

The shape of MedDialog-CN's dialogues, HuatuoGPT-II's "Real Dialogue" and many hospital exports.
JSON Lines (or a JSON array) of objects whose "dialogue" (else "text") string holds the turns:
    {"dialogue": "病人：孩子发烧38度5，要吃退烧药吗？\\n医生：先物理降温……\\n病人：好的，谢谢",
     "department"?: "儿科", "id"?: ...}
A turn starts at a speaker label at the start of a line -- 病人 患者 用户 家属 (the patient's side)
or 医生 大夫 (the doctor's), followed by ： or : -- and runs to the next label (a label alone on
its line puts the text on the next lines, as HuatuoGPT-II writes it). Consecutive turns of one
side are one turn. The patient's closing turn after the doctor's last answer (thanks, goodbye) is
dropped, since a training example ends on the doctor. The rest goes through converters/turns.py:
    instruction  the last patient turn    output  the doctor's answer to it
    meta         {"history": earlier [patient, doctor] rounds, "subject": department, "id"}
Rejects: bad JSON, a line that is not an object, no dialogue string, text before the first label
("no speaker label"), and whatever turns.rounds rejects (the doctor speaking first, an empty turn).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field
from converters.turns import rounds

SPEAKERS = {"病人": "human", "患者": "human", "用户": "human", "家属": "human", "医生": "gpt", "大夫": "gpt"}
_LABEL = re.compile(r"^\s*(" + "|".join(SPEAKERS) + r")\s*[：:]", re.M)


def turns_of(dialogue: str) -> list[tuple[str, str]] | str:
    """[(human | gpt, text)], one side's consecutive turns merged; a string is the reject reason."""
    labels = list(_LABEL.finditer(dialogue))
    if not labels or dialogue[:labels[0].start()].strip():
        return "no speaker label: the dialogue must start with 病人：/患者：/医生： ... at the start of a line"
    turns: list[tuple[str, str]] = []
    for label, nxt in zip(labels, labels[1:] + [None]):
        role = SPEAKERS[label.group(1)]
        text = dialogue[label.end():nxt.start() if nxt else len(dialogue)].strip()
        if turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n{text}".strip())
        else:
            turns.append((role, text))
    if len(turns) > 1 and turns[-1][0] == "human":
        turns.pop()  # the patient's closing words: nothing answers them
    return turns


def _convert(obj: dict, where: str) -> Example | str:
    dialogue = text_field(obj, "dialogue") or text_field(obj, "text")
    if dialogue is None:
        return "missing or empty 'dialogue'"
    turns = turns_of(dialogue)
    if isinstance(turns, str):
        return turns
    found = rounds(turns)
    if isinstance(found, str):
        return found
    return Example(instruction=found.question, output=found.answer, source=where,
                   meta={"history": found.history, "subject": text_field(obj, "department"), "id": obj.get("id")})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), _convert)
