from __future__ import annotations

import random
import re

import pytest

from converters.common import Example
from converters.prep.refusals import (DEFAULT_REFUSAL, PREFIXES, QUESTIONS, QUESTIONS_FILE, VARIANTS,
                                      refusal_examples)

MEDICAL_WORDS = re.compile("病|医|药|症|疗|痛|健康|身体|血|康复|治|诊|营养|减肥|伤|孕|睡眠|饮食|感冒|发烧")


def test_builtin_questions_are_many_distinct_and_non_medical():
    questions = [q for _, q in QUESTIONS]
    assert len(questions) >= 60
    assert len(set(questions)) == len(questions)
    assert [q for q in questions if MEDICAL_WORDS.search(q)] == []
    # no built-in question already carries a variation prefix (or "请问请问" would appear)
    assert [q for q in questions if any(q.startswith(p) for p in PREFIXES if p)] == []


def test_refusal_text_says_medical_assistant_only():
    assert "医疗健康助手" in DEFAULT_REFUSAL and "只能回答" in DEFAULT_REFUSAL


def test_first_round_uses_distinct_questions_as_written():
    examples = refusal_examples(len(QUESTIONS), random.Random(0))
    assert all(isinstance(e, Example) for e in examples)
    assert sorted(e.instruction for e in examples) == sorted(q for _, q in QUESTIONS)
    assert all(e.output == DEFAULT_REFUSAL and e.meta == {"kind": "refusal"} for e in examples)
    lines = QUESTIONS_FILE.read_text(encoding="utf-8").splitlines()
    for e in examples:
        name, line = e.source.split(":")
        assert name == "out_of_scope_zh.txt" and lines[int(line) - 1] == e.instruction
    assert examples[0].to_alpaca() == {"instruction": examples[0].instruction, "input": "",
                                       "output": DEFAULT_REFUSAL}


def test_deterministic_and_seed_dependent_order():
    a = [e.instruction for e in refusal_examples(10, random.Random(1))]
    assert a == [e.instruction for e in refusal_examples(10, random.Random(1))]
    assert a != [e.instruction for e in refusal_examples(10, random.Random(2))]


def test_cycles_with_prefixes_and_suffixes_beyond_the_list():
    n = len(QUESTIONS)
    examples = refusal_examples(3 * n, random.Random(3))
    second = [e.instruction for e in examples[n:2 * n]]
    assert all(q.startswith("请问") for q in second)
    assert sorted(q[len("请问"):] for q in second) == sorted(q for _, q in QUESTIONS)
    assert all(e.instruction.startswith("你好，") for e in examples[2 * n:])


def test_instructions_unique_until_variations_run_out():
    limit = len(QUESTIONS) * len(VARIANTS)
    examples = refusal_examples(limit + 5, random.Random(4))
    assert len({e.instruction for e in examples[:limit]}) == limit
    assert len({e.instruction for e in examples}) == limit          # then they repeat
    assert any(e.instruction.endswith("谢谢！") for e in examples)


def test_custom_text_zero_and_negative_count():
    custom = "抱歉，本助手仅提供医疗健康咨询。"
    assert {e.output for e in refusal_examples(5, random.Random(0), refusal_text=custom)} == {custom}
    assert refusal_examples(0, random.Random(0)) == []
    with pytest.raises(ValueError):
        refusal_examples(-1, random.Random(0))
    with pytest.raises(ValueError):
        refusal_examples(1, random.Random(0), refusal_text=" ")


def test_eval_questions_are_test_items_only_and_leave_the_training_data_as_it_was(tmp_path):
    """data.refusals.eval_questions: more out-of-scope items for the refusal suite, never trained on."""
    from converters.build import build_examples
    from core.recipe.schema import DataSection
    from tests.conftest import ROOT
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("# comment\nWhich planet has the longest day?\nHow do I tune a guitar by ear?\n",
                        encoding="utf-8")
    settings = {"sources": [{"format": "qa-jsonl", "path": str(ROOT / "data" / "samples" / "qa.jsonl")}],
                "test_size": 0.2, "val_size": 0.1, "refusals": {"count": 12}}
    before = build_examples(DataSection.model_validate(settings), seed=7)
    settings["refusals"]["eval_questions"] = str(held_out)
    after = build_examples(DataSection.model_validate(settings), seed=7)
    rows = lambda built, split: [(e.instruction, e.output) for e in built.splits[split]]  # noqa: E731
    assert rows(after, "train") == rows(before, "train") and rows(after, "validation") == rows(before, "validation")
    added = [e for e in after.splits["test"] if e.source.startswith("held_out.txt")]
    assert [(e.instruction, e.meta["kind"], e.source) for e in added] == [
        ("Which planet has the longest day?", "refusal", "held_out.txt:2"),
        ("How do I tune a guitar by ear?", "refusal", "held_out.txt:3")]
    assert rows(after, "test")[:len(before.splits["test"])] == rows(before, "test")
    assert added[0].output == DEFAULT_REFUSAL
