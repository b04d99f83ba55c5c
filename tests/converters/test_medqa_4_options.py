"""MedQA `4_options/` files (A-D, extra `metamap_phrases` key) go through the medqa converter."""
from __future__ import annotations

from pathlib import Path

from converters import medqa
from converters.common import Example

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "medqa" / "4_options_sample.jsonl"


def test_four_option_sample():
    items = list(medqa.read(SAMPLE))
    assert all(isinstance(i, Example) for i in items) and len(items) == 4
    assert [i.meta["answer_idx"] for i in items] == ["A", "C", "B", "D"]
    assert [i.meta["meta_info"] for i in items] == ["step1", "step2&3", "step1", "step2&3"]
    third = items[2]
    assert third.instruction.split("\n") == ["Which hormone is released from the posterior pituitary?", "A. Prolactin",
                                             "B. Oxytocin", "C. Growth hormone", "D. Thyroid-stimulating hormone",
                                             medqa.ASK_EN]
    assert third.output == "Answer: B. Oxytocin"
    assert all("E. " not in i.instruction for i in items)
