"""`make data` end to end on the bundled samples, as the quickstart recipe runs it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from converters.build import build, build_examples
from converters.prep.five_section import DEFAULT_PLACEHOLDERS
from converters.prep.refusals import DEFAULT_REFUSAL
from core.recipe.load import load_recipe
from tests.conftest import ROOT

HEADERS = ["【病情分析】", "【指导建议】", "【药物说明】", "【风险提示】", "【免责声明】"]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def in_order(text: str) -> bool:
    positions = [text.find(h) for h in HEADERS]
    return all(p >= 0 for p in positions) and positions == sorted(positions)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml")
    out = tmp_path_factory.mktemp("data")
    summary = build(recipe.data, recipe.finetune.seed, out)
    return out, summary, recipe


def test_every_split_eval_set_corpus_and_report_is_written(built):
    out, summary, _ = built
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"medkit_train", "medkit_validation", "medkit_test"}
    assert sum(summary["splits"].values()) == summary["kept"] and summary["splits"]["train"] > 100
    for name in ("report.md", "report_counts.png", "report_lengths.png", "report_categories.png"):
        assert (out / name).stat().st_size > 2000, name
    report = (out / "report.md").read_text(encoding="utf-8")
    for section in ("| cmedqa2 |", "## Rejects by reason", "### clean", "### five_section", "### noise", "### refusal",
                    "## Five-section answers", "| 风险提示 |"):
        assert section in report
    rates = summary["five_section"]
    assert rates["answers"] > 100 and 0 <= rates["placeholder_share"] <= 1
    assert set(rates["filled"]) == {h[1:-1] for h in HEADERS[:4]}


def test_placeholders_never_reach_the_corpus_or_the_noise_passages(built):
    out, _, _ = built
    placeholders = list(DEFAULT_PLACEHOLDERS.values())
    corpus = rows(out / "corpus.jsonl")
    assert any(d["metadata"].get("kind") == "qa" for d in corpus)
    assert not [d for d in corpus if any(p in d["text"] for p in placeholders)]
    noisy = [r for r in rows(out / "train.jsonl") if "以下是检索到的参考资料" in r["instruction"]]
    assert noisy and not [r for r in noisy if any(p in r["instruction"] for p in placeholders)]
    trained = [r for r in rows(out / "train.jsonl") if any(p in r["output"] for p in placeholders)]
    assert trained  # they are in the training targets (the five-section layout), only there


def test_rerun_is_deterministic_and_overwrites(built, tmp_path):
    out, _, recipe = built
    (tmp_path / "train.jsonl").write_text("stale\n")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "gone.jsonl").write_text("stale\n")
    build(recipe.data, recipe.finetune.seed, tmp_path)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "corpus.jsonl", "rejects.jsonl",
                 "eval/mainland_sample.jsonl"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    assert not (tmp_path / "eval" / "gone.jsonl").exists()


def test_rejects_name_file_line_and_reason(built):
    out, summary, _ = built
    rejects = rows(out / "rejects.jsonl")
    reasons = {(Path(r["file"]).name, r["line"], r["reason"].split(":")[0]) for r in rejects}
    assert ("train_candidates.txt", 12, "dangling ans_id") in reasons
    assert ("mainland_sample.jsonl", 5, "bad JSON") in reasons
    assert summary["rejected"] == len(rejects) == sum(summary["rejects_by_reason"].values())


def test_cleaning_scrubs_html_and_personal_data(built):
    out, summary, _ = built
    everything = "".join((out / f).read_text(encoding="utf-8") for f in ("train.jsonl", "validation.jsonl",
                                                                         "test.jsonl", "corpus.jsonl"))
    assert "13912345678" not in everything and "parent.test@example.com" not in everything
    assert "110101199003071234" not in everything and "<p>" not in everything and "&nbsp;" not in everything
    assert "[手机号]" in everything and "[邮箱]" in everything
    assert summary["pii_replaced"]["mobile"] == 1 and summary["pii_replaced"]["email"] == 1


def test_exact_and_near_duplicates_are_dropped(built):
    out, _, _ = built
    dups = rows(out / "duplicates.jsonl")
    assert {(d["source"], d["duplicate_of"], d["kind"]) for d in dups} == {
        ("qa_noisy.jsonl:3", "qa.jsonl:1", "exact"), ("qa_noisy.jsonl:4", "qa.jsonl:1", "near")}


def test_open_answers_get_five_sections_and_multiple_choice_does_not(built):
    out, _, _ = built
    train = rows(out / "train.jsonl")
    cmedqa2 = [r for r in train if r["output"].startswith("【病情分析】") and "[" not in r["output"]]
    assert len(cmedqa2) > 50 and all(in_order(r["output"]) for r in cmedqa2)
    mc = [r for r in train if r["output"].startswith("答案：")]
    assert mc and not any("【病情分析】" in r["output"] for r in mc)


def test_noise_injection_and_refusals(built):
    out, summary, recipe = built
    train = rows(out / "train.jsonl")
    noisy = [r for r in train if r["instruction"].count("\n[") >= recipe.data.noise.distractors]
    assert noisy, "some training prompts carry numbered context passages"
    for r in noisy:
        cited = [n for n in range(1, recipe.data.noise.distractors + 2) if f"[{n}]" in r["output"]]
        assert len(cited) == 1 and f"[{cited[0]}]" in r["instruction"]
    refusals = summary["per_source"]["refusals"]
    assert refusals["train"] + refusals.get("validation", 0) + refusals.get("test", 0) == 20
    assert len(rows(out / "eval" / "refusals.jsonl")) == refusals.get("test", 0)


def test_refusals_with_context_are_seeded_and_counted(tmp_path):
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", ["data.refusals.with_context=0.5"])
    summary = build(recipe.data, recipe.finetune.seed, tmp_path)
    refusals = [r for r in rows(tmp_path / "train.jsonl") if r["output"] == DEFAULT_REFUSAL]
    with_context = [r for r in refusals if "\n[1] " in r["instruction"]]
    assert len(with_context) == round(len(refusals) * 0.5) == summary["with_context"]["refusal-with-context"] > 0
    passages = recipe.data.noise.distractors + 1
    for r in with_context:
        assert r["instruction"].count("\n[") == passages and f"\n[{passages + 1}] " not in r["instruction"]
        assert "[" not in r["output"]
    assert summary["with_context"]["noisy-context"] > 0
    assert f"{len(with_context)} refusals (data.refusals.with_context)" in (tmp_path / "report.md").read_text()
    assert not any(r["output"] == DEFAULT_REFUSAL for r in rows(tmp_path / "test.jsonl") if "\n[1] " in r["instruction"])

    def prompts(seed: int) -> list[str]:
        train = build_examples(recipe.data, seed).splits["train"]
        return [ex.instruction for ex in train if ex.meta.get("context")]
    assert prompts(recipe.finetune.seed) == [r["instruction"] for r in with_context]
    assert prompts(recipe.finetune.seed + 1) != prompts(recipe.finetune.seed)


def test_eval_sets_carry_gold_answers(built):
    out, _, _ = built
    medqa = rows(out / "eval" / "mainland_sample.jsonl")
    assert medqa and all(item["kind"] == "choice" and item["answer"] in item["options"] for item in medqa)
    assert all(item["subject"].startswith("第") for item in medqa)
    open_items = rows(out / "eval" / "cmedqa2.jsonl")
    assert open_items and all(item["kind"] == "open" for item in open_items)
    # references are the source's own answers: no headers, no placeholders; the format is scored apart
    answers = (ROOT / "data/samples/cmedqa2/answer.csv").read_text(encoding="utf-8")
    for item in open_items:
        assert item["expected_format"] == "five_section"
        assert "【" not in item["reference"] and item["reference"] in answers


def test_corpus_has_stable_ids_textbooks_and_no_test_answers(built):
    out, _, _ = built
    corpus = rows(out / "corpus.jsonl")
    ids = [d["id"] for d in corpus]
    assert len(ids) == len(set(ids)) and all(len(i) == 16 for i in ids)
    assert any(d["title"] == "内科学" and d["metadata"]["dataset"] == "zh_paragraph" for d in corpus)
    test_answers = {r["output"] for r in rows(out / "test.jsonl")}
    assert not test_answers & {d["text"] for d in corpus}


def test_leakage_is_reported(tmp_path):
    src = tmp_path / "qa.jsonl"
    with src.open("w", encoding="utf-8") as fh:
        for i in range(30):  # a question and a reworded copy: some pairs straddle the splits
            base = f"医生您好，问题编号{i}：最近一个月反复头晕乏力，早上起床时更明显，这是怎么回事？"
            for question, answer in ((base, f"第一种回答，编号{i}，建议多休息。"),
                                     ("请问" + base, f"另一种完全不同的说法{i}，请及时就医复查。")):
                fh.write(json.dumps({"question": question, "answer": answer}, ensure_ascii=False) + "\n")
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml",
                         [f"data.sources=[{{format: qa-jsonl, path: {src}}}]", "data.test_size=0.4",
                          "data.dedupe.near=false", "data.refusals.count=0", "data.noise.share=0"])
    summary = build(recipe.data, recipe.finetune.seed, tmp_path / "out")
    leaks = rows(tmp_path / "out" / "leakage.jsonl")
    assert summary["leakage"] == len(leaks) > 0
    assert all(l["similarity"] >= 0.85 for l in leaks)


def test_a_source_can_be_pinned_to_one_split(tmp_path):
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [
        "data.sources=[{format: qa-jsonl, path: data/samples/qa.jsonl}, "
        "{format: medqa, path: data/samples/medqa/mainland_sample.jsonl, split: test}]",
        "data.refusals.count=0", "data.noise.share=0", "data.max_reject_share=0.5"])
    summary = build(recipe.data, recipe.finetune.seed, tmp_path)
    assert summary["per_source"]["mainland_sample"] == {"input": 14, "read": 12, "rejected": 2, "kept": 12,
                                                        "test": 12}
    assert summary["per_source"]["qa"]["train"] > 50


def test_without_a_cjk_font_the_category_plot_labels_chinese_names_by_number(tmp_path):
    from converters.common import Example
    from converters.report import bar_labels, plot_categories
    assert bar_labels(["内科", "(refusals)", "儿科"], can_draw_cjk=False) == ["C1", "(refusals)", "C3"]
    assert bar_labels(["内科"], can_draw_cjk=True) == ["内科"]
    examples = [Example(instruction="q", output="a", meta={"kind": kind}) for kind in ("内科", "内科", "儿科")]
    assert plot_categories(examples, tmp_path / "c.png", can_draw_cjk=False) == {"内科": 2, "儿科": 1}
    assert (tmp_path / "c.png").stat().st_size > 2000
