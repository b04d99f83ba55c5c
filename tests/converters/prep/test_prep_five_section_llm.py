"""Model-assisted five sections: only the answer's own sentences, checked replies, rules when the model fails."""
from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from converters.build import build
from converters.prep import five_section
from converters.prep.five_section_llm import Assigner, parse_assignment, prompt, restructure
from core.recipe.schema import DataSection, FiveSectionSettings

ANSWER = "你好，考虑是慢性咽炎。平时多喝水。可以含服西瓜霜含片。如果症状持续不缓解，建议及时就诊。以上意见仅供参考。"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: nothing listens there


def test_units_are_numbered_in_the_prompt():
    units, dropped = five_section.units_of(ANSWER)
    assert dropped == ["你好，"]
    assert units == ["考虑是慢性咽炎。", "平时多喝水。", "可以含服西瓜霜含片。", "如果症状持续不缓解，建议及时就诊。",
                     "以上意见仅供参考。"]
    assert "\n1. 考虑是慢性咽炎。\n2. 平时多喝水。" in prompt(units)


@pytest.mark.parametrize("reply, result", [
    ('{"1": "病情分析", "2": "指导建议", "3": "药物说明"}', ["病情分析", "指导建议", "药物说明"]),
    ('```json\n{"1": "【病情分析】", "2": "指导建议", "3": "风险提示"}\n```', ["病情分析", "指导建议", "风险提示"]),
    ('好的：{"1": "病情分析", "2": "病情分析", "3": "免责声明"} 以上。', ["病情分析", "病情分析", "免责声明"]),
    ('{"1": "病情分析", "2": "指导建议"}', "reply does not number every unit once (missing ['3'], unknown [])"),
    ('{"1": "病情分析", "2": "指导建议", "3": "x", "4": "风险提示"}', "reply does not number every unit once"),
    ('{"1": "病情分析", "2": "诊断", "3": "药物说明"}', "reply names an unknown section '诊断'"),
    ("【病情分析】咽炎。【指导建议】多喝水。", "reply is not a JSON object"),
    (None, "reply is not a JSON object"),
])
def test_replies_are_checked(reply, result):
    found = parse_assignment(reply, 3)
    assert found == result if isinstance(result, list) else found.startswith(result)


def test_the_answer_is_built_from_original_units_only():
    units, dropped = five_section.units_of(ANSWER)
    text, report = five_section.assemble(list(zip(["病情分析", "指导建议", "药物说明", "风险提示", "免责声明"], units)),
                                         dropped)
    assert report["empty"] == [] and report["dropped"] == ["你好，"]
    bodies = [block.split("\n", 1)[1] for block in text.split("\n【")]
    assert bodies == ["考虑是慢性咽炎。", "平时多喝水。", "可以含服西瓜霜含片。", "如果症状持续不缓解，建议及时就诊。",
                      "以上意见仅供参考。"]


def test_an_unreachable_endpoint_falls_back_to_the_rules():
    assigner = Assigner(f"http://127.0.0.1:{free_port()}/v1", "base", timeout_s=5)
    text, report = restructure(ANSWER, assigner)
    assert report["method"] == "rules-fallback" and report["fallback"] == "endpoint failed: APIConnectionError"
    assert text == five_section.restructure(ANSWER)[0]


def test_make_data_with_the_llm_method_counts_fallbacks(tmp_path):
    data = DataSection(sources=[{"format": "dialogue-csv", "path": "data/samples/dialogue_csv_real"}],
                       five_section={"enabled": True, "method": "llm",
                                     "llm": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "base",
                                             "timeout_s": 5}})
    summary = build(data, 42, tmp_path)
    assert summary["five_section"]["answers"] == 40 and summary["five_section"]["llm_fallbacks"] == 40
    assert "40 answers fell back to the rules" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_the_llm_method_needs_an_endpoint():
    with pytest.raises(ValidationError, match="five_section.llm.base_url"):
        FiveSectionSettings(enabled=True, method="llm")
