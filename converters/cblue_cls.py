"""CBLUE classification and sentence-pair tasks (CBLUEbenchmark/CBLUE; HuatuoGPT's KUAKE-QIC_100.json).

Each task ships `<TASK>_train.json` / `_dev.json` / `_test.json`, a JSON array (JSON Lines is read too)
of records whose text fields name the layout:
    KUAKE-QIC  {"id", "query", "label"}                 search intent (病情诊断, 治疗方案, 医疗费用, ...)
    CHIP-CTC   {"id", "text", "label"}                  clinical-trial criterion category
    CHIP-STS   {"id", "text1", "text2", "label", "category"}   same question or not (1 / 0)
    KUAKE-QQR  {"id", "query1", "query2", "label"}      query-query relevance (0 / 1 / 2)
    KUAKE-QTR  {"id", "query", "title", "label"}        query-title relevance (0 to 3)
Each record with a label becomes a task example: the instruction names the task, lists the
labels seen in the file (in order of first appearance) and quotes the text(s); the output is the
label as written. Numbered labels are not explained beyond what CBLUE states (CHIP-STS: 1 the
same question, 0 not); a recipe that wants words writes them into the data.
    meta  {"kind": "task", "task_type": "cls" | "pair", "task_dataset": the file name's task,
           "sample_id", "answer_choices": the labels}
kind "task" keeps these out of the five-section rewrite, the noise and refusal steps and the RAG
corpus (converters/example_meta.py). Rejects: bad JSON, a record that is not an object, no text
field of a known layout, an empty text, and no label (CBLUE's test files carry none: "no label").
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, read_json_records, text_field

# (text keys, task type) in the order they are tried; the first whose keys are all present wins
LAYOUTS = ((("text1", "text2"), "pair"), (("query1", "query2"), "pair"), (("query", "title"), "pair"),
           (("query",), "cls"), (("text",), "cls"))
ASK = {"cls": "判断下面文本的类别，从以下类别中选择一个：{choices}。\n文本：{a}",
       "pair": "判断下面两段文本的关系，从以下标签中选择一个：{choices}。\n文本一：{a}\n文本二：{b}"}
STS_ASK = "判断下面两个问题的意思是否相同，相同输出 1，不同输出 0。\n问题一：{a}\n问题二：{b}"


def _label(obj: dict) -> str | None:
    label = obj.get("label")
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        return str(label)
    return label.strip() or None if isinstance(label, str) else None


def _layout(obj: dict) -> tuple[tuple[str, ...], str] | None:
    return next(((keys, kind) for keys, kind in LAYOUTS if all(k in obj for k in keys)), None)


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    records = list(read_json_records(path))
    task = path.stem.split("_")[0]
    choices = list(dict.fromkeys(label for _, obj in records if isinstance(obj, dict)
                                 for label in [_label(obj)] if label))
    for line, obj in records:
        if isinstance(obj, Reject):
            yield obj
            continue
        layout = _layout(obj)
        if layout is None:
            yield Reject(str(path), line, "no text field: expected query, text, text1+text2, query1+query2 or "
                                          "query+title", json.dumps(obj, ensure_ascii=False)[:200])
            continue
        keys, kind = layout
        texts = [text_field(obj, key) for key in keys]
        label = _label(obj)
        if None in texts:
            yield Reject(str(path), line, f"empty {keys[texts.index(None)]!r}")
        elif label is None:
            yield Reject(str(path), line, "no label: a CBLUE test file carries no answers; convert train and dev")
        else:
            template = STS_ASK if task == "CHIP-STS" else ASK[kind]
            prompt = template.format(choices="、".join(choices), a=texts[0], b=texts[-1])
            yield Example(instruction=prompt, output=label, source=f"{path}:{line}",
                          meta={"kind": "task", "task_type": kind, "task_dataset": task, "sample_id": obj.get("id"),
                                "answer_choices": choices})
