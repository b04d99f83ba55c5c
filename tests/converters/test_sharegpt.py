"""ShareGPT: last round as instruction/output, earlier rounds as meta["history"]."""
from __future__ import annotations

import json
from pathlib import Path

from converters import sharegpt
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "sharegpt" / "sharegpt_sample.json"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def conv(*turns, key="conversations", **extra):
    return {key: [{"from": r, "value": v} for r, v in turns], **extra}


def test_sample():
    examples, rejects = split(sharegpt.read(SAMPLE))
    assert [e.source for e in examples] == [f"sharegpt_sample.json:{n}" for n in (1, 2, 3)]
    assert [(r.line, r.reason) for r in rejects] == [(4, "last turn not from gpt: turn 3 is from human"),
                                                     (5, "not alternating: turn 2 is from human, expected gpt")]
    single, two_rounds, messages = examples
    assert (single.system, single.instruction, single.output, single.meta) == (
        "你是一名耐心的全科医生。", "最近总是口干，喝水也不解渴，需要检查什么？",
        "建议先查空腹血糖和糖化血红蛋白，排除糖尿病。", {"history": []})
    assert two_rounds.instruction == "吃药以后可以停吗？"
    assert two_rounds.output == "多数高血压需要长期服药，不要自行停药，可由医生根据血压情况调整。"
    assert two_rounds.meta["history"] == [
        ["我爸爸血压160/100，需要吃药吗？", "这个血压已属于2级高血压，通常需要在医生指导下开始药物治疗。"]]
    assert two_rounds.system == "" and two_rounds.input == ""
    assert messages.instruction == "What does a high TSH level usually mean?"
    assert messages.output.startswith("A high TSH")


def test_three_rounds_item_system_and_rejects(tmp_path):
    items = [
        conv(("human", "q1"), ("gpt", "a1"), ("human", "q2"), ("gpt", "a2"), ("human", " q3 "), ("gpt", "a3"),
             system="sys"),
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                      {"role": "assistant", "content": "a"}]},
        conv(("gpt", "hello"), ("human", "q"), ("gpt", "a")),
        conv(("system", "s")),
        conv(("human", "q"), ("system", "s"), ("gpt", "a")),
        conv(("human", "q"), ("function_call", "{}"), ("gpt", "a")),
        conv(("human", "查一下阿莫西林的用法"), ("gpt", "Thought: 需要查药品库\nAction: drug_search\nAction Input: 阿莫西林")),
        conv(("human", "q"), ("critic", "x"), ("gpt", "a")),
        conv(("human", "q"), ("gpt", "  ")),
        {"conversations": []},
        {"conversations": [{"from": "human", "text": "q"}]},
        conv(("system", "s"), ("human", "q"), ("human", "q")),
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    examples, rejects = split(sharegpt.read(path))
    three, openai = examples
    assert (three.instruction, three.output, three.system) == ("q3", "a3", "sys")
    assert three.meta["history"] == [["q1", "a1"], ["q2", "a2"]]
    assert (openai.system, openai.instruction, openai.output) == ("s", "u", "a")
    assert [(r.line, r.reason) for r in rejects] == [
        (3, "not alternating: turn 1 is from gpt, expected human"),
        (4, "empty conversation: only a system turn"),
        (5, "misplaced system turn: turn 2"),
        (6, "tool call: turn 2 (from 'function_call'); tool-call conversations are not converted (their tool "
            "definitions are not part of the alpaca rows, so the model would learn calls to tools it is never shown)"),
        (7, "tool call: turn 2 (an Action: call); tool-call conversations are not converted (their tool "
            "definitions are not part of the alpaca rows, so the model would learn calls to tools it is never shown)"),
        (8, "unsupported role: turn 2 is from 'critic'"),
        (9, "empty turn: turn 2 (gpt) has no text"),
        (10, "missing or empty 'conversations'"),
        (11, "bad turn: turn 1 is not a {from, value} or {role, content} object with strings"),
        (12, "not alternating: turn 3 is from human, expected gpt"),
    ]
