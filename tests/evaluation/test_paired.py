"""Paired differences: McNemar and the bootstrap against scipy, items dropped when either side has
no value, and a report that compares targets on the items both answered (the audit's case: sft
failing on the items base got wrong must not show as +50 points)."""
from __future__ import annotations

import json

import pytest
from scipy import stats

from evaluation.paired import bootstrap, compare, mcnemar
from tests.conftest import run_module
from tests.evaluation.conftest import eval_args, user_text, write_items


@pytest.mark.parametrize("n01,n10", [(0, 3), (1, 5), (4, 4), (2, 9), (12, 12), (0, 24)])
def test_mcnemar_exact_below_25_discordant_pairs_equals_the_binomial_test(n01, n10):
    assert mcnemar(n01, n10) == pytest.approx(stats.binomtest(n01, n01 + n10, 0.5).pvalue, abs=1e-12)


@pytest.mark.parametrize("n01,n10", [(10, 20), (30, 12), (50, 49)])
def test_mcnemar_chi_square_with_continuity_correction_above(n01, n10):
    x = (abs(n01 - n10) - 1) ** 2 / (n01 + n10)
    assert mcnemar(n01, n10) == pytest.approx(stats.chi2.sf(x, 1), rel=1e-9)
    assert mcnemar(0, 0) == 1.0


def test_bootstrap_is_seeded_and_brackets_the_mean():
    diffs = [1, 0, 0, 1, -1, 1, 0, 1, 1, 0] * 3
    assert bootstrap(diffs, 2000, seed=7) == bootstrap(diffs, 2000, seed=7)
    low, high = bootstrap(diffs, 2000, seed=7)
    assert low < sum(diffs) / len(diffs) < high and low > 0          # 12 of 30 better, 3 worse
    assert bootstrap([0.5] * 8) == (0.5, 0.5)
    # the same resampling done by hand with numpy: percentile interval of resampled means
    import numpy as np
    idx = np.random.default_rng(7).integers(0, 30, size=(2000, 30))
    means = np.asarray(diffs, dtype=float)[idx].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))


def test_compare_uses_only_items_both_sides_have():
    a = {"q1": 1.0, "q2": 1.0, "q3": 0.0, "q4": 0.0}
    b = {"q1": 1.0, "q2": 1.0, "q3": None, "q5": 1.0}        # q3 failed, q4 missing, q5 only in b
    c = compare(a, b, binary=True)
    assert (c["n"], c["a"], c["b"], c["delta"], c["spans_zero"]) == (2, 1.0, 1.0, 0.0, True)
    assert c["mcnemar_p"] == 1.0 and compare({"q1": None}, {"q1": 1.0}) is None
    assert "mcnemar_p" not in compare({"q1": 0.25}, {"q1": 0.5})          # scores, not outcomes


def test_minimal_detectable_difference_and_the_underpowered_mark():
    import numpy as np

    from evaluation.paired import Z_POWER
    assert Z_POWER == pytest.approx(stats.norm.ppf(0.975) + stats.norm.ppf(0.8), abs=1e-4)
    # 12 yes/no items, 17% against 50%: 4 items only b got right, the 2 a got right b also got
    a = {f"q{i}": float(i < 2) for i in range(12)}
    b = {f"q{i}": float(i < 6) for i in range(12)}
    c = compare(a, b, binary=True)
    diffs = np.asarray([b[k] - a[k] for k in a])
    assert c["mde"] == pytest.approx(Z_POWER * diffs.std(ddof=1) / np.sqrt(12))  # 0.398: 40 points
    assert c["delta"] == pytest.approx(1 / 3) and c["underpowered"] is True
    big = compare({f"q{i}": a[f"q{i % 12}"] for i in range(120)}, {f"q{i}": b[f"q{i % 12}"] for i in range(120)})
    assert big["mde"] < big["delta"] and big["underpowered"] is False  # ten times the items tell it apart
    same = compare({"q1": 1.0, "q2": 0.0}, {"q1": 1.0, "q2": 0.0})
    assert same["mde"] is None and same["underpowered"] is None  # no item differs: nothing to judge by


OPTIONS = {"A": "单纯扩散", "B": "钠-钾泵的主动转运"}


def items() -> list[dict]:
    choice = [{"id": f"c{i}", "kind": "choice", "options": OPTIONS, "answer": "B", "dataset": "mcq",
               "prompt": f"第{i}题：钾离子浓度差靠什么维持？\nA. 单纯扩散\nB. 钠-钾泵的主动转运"} for i in range(4)]
    opened = [{"id": "o1", "kind": "open", "prompt": "头痛怎么办？", "reference": "注意休息，必要时就医。"},
              {"id": "o2", "kind": "open", "prompt": "发热怎么办？", "reference": None}]
    return choice + opened


def answer(model: str, messages: list[dict]) -> str:
    user = user_text(messages)
    if "第2题" in user or "第3题" in user:
        return "答案：A"                                           # base gets these two wrong
    return "答案：B" if "题" in user else "注意休息，必要时就医。"


@pytest.mark.slow
def test_report_compares_on_the_items_both_answered(tmp_path, serve_fake):
    # sft's requests fail (HTTP 400) exactly on the two items base got wrong
    _, url = serve_fake(answer, served=["plain", "five"],
                        bad_request=lambda model, m: model == "five" and ("第2题" in user_text(m) or "第3题" in user_text(m)))
    sets = write_items(tmp_path / "set.jsonl", items())
    args = eval_args(tmp_path / "run", [sets], [("base", "plain", url), ("sft", "five", url)],
                     "eval.suites=[choice,open,format,safety]")
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "run" / "eval"
    results = json.loads((out / "results.json").read_text())
    s = results["suites"]
    assert s["base"]["choice"]["accuracy"] == 0.5 and s["sft"]["choice"]["accuracy"] == 1.0
    assert s["sft"]["choice"]["missing"] == 2 and s["sft"]["coverage"]["missing"] == 2
    accuracy = results["paired"]["targets"]["sft"]["accuracy"]
    assert (accuracy["n"], accuracy["a"], accuracy["b"], accuracy["delta"]) == (2, 1.0, 1.0, 0.0)
    assert accuracy["spans_zero"] and accuracy["mcnemar_p"] == 1.0
    # the open item without a reference is counted, not scored as ROUGE 0
    assert s["base"]["open"]["n"] == 1 and s["base"]["open"]["missing_reference"] == 1
    assert s["base"]["open"]["rougeL"] == 1.0 and results["paired"]["targets"]["sft"]["ROUGE-L"]["n"] == 1
    report = (out / "report.md").read_text()
    assert "| sft | 2 | 2 | 100.0 (+0.0 NS) |" in report                      # n, failed, paired delta
    assert "| sft | accuracy | 2 | 100.0 | 100.0 | +0.0 NS |" in report
    assert "## Paired differences against **base**" in report and "(+50.0)" not in report
