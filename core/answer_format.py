"""The five-section answer format the toolkit trains and scores: 【病情分析】【指导建议】【药物说明】【风险提示】【免责声明】.

converters/prep/five_section.py writes it, evaluation/metrics.py scores it, the demo's full
preset asks for it (through the recipe's system prompt)."""
from __future__ import annotations

SECTIONS = ("病情分析", "指导建议", "药物说明", "风险提示", "免责声明")
HEADERS = tuple(f"【{s}】" for s in SECTIONS)


def asks_for_sections(prompt: str | None) -> bool:
    """A prompt that names at least three of the sections asks for the format."""
    return bool(prompt) and sum(name in prompt for name in SECTIONS) >= 3
