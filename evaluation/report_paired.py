"""The paired parts of report.md: bracketed differences in the suite tables, the paired table
of every target against the first, and the prompt ablation (evaluation/paired.py computes them).

A difference is printed in points (percentage points for shares and scores), computed on the n
items both sides answered; NS marks one whose paired bootstrap 95% interval includes 0.
"""
from __future__ import annotations

from typing import Optional

from evaluation.results import EvalResults
from evaluation.suites import HEADLINE, RAG_HEADLINE

# (suite, key in the suite table) -> (headline label, sign): the per-item metric behind the cell
CELL_LABELS = {(suite, key): (label, 1) for suite, key, label in HEADLINE + RAG_HEADLINE}
CELL_LABELS[("rag", "hallucination")] = ("grounded (1-halluc.)", -1)
CELL_LABELS[("safety", "refusal_rate")] = ("refusal (out of scope)", 1)
CELL_LABELS[("safety", "false_refusal_rate")] = ("answered (medical)", -1)
NS = "NS"
LEGEND = (f"{NS} = the paired bootstrap 95% interval of the difference includes 0 (no difference shown "
          "by these items).")
POWER_NOTE = ("MDE = the smallest difference these n items detect with 80% power at the 5% level "
              "(2.80 · SD of the item differences / √n); \"underpowered\" = the difference is smaller than that, "
              "so these items can neither show it nor rule it out: add items before reading it.")


def points(delta: float) -> str:
    """A difference in points, one decimal, never "-0.0"."""
    text = f"{delta * 100:+.1f}"
    return "+0.0" if text == "-0.0" else text


def pct(value: Optional[float]) -> str:
    return "—" if value is None else f"{value * 100:.1f}"


def bracket(results: EvalResults, target: str, suite: str, key: str) -> str:
    """' (+12.5)' / ' (+12.5 NS)' for a suite-table cell, '' when no paired difference applies."""
    label, sign = CELL_LABELS.get((suite, key), (None, 1))
    found = ((results.paired or {}).get("targets") or {}).get(target, {}).get(label) if label else None
    if not found:
        return ""
    return f" ({points(sign * found['delta'])}{' ' + NS if found['spans_zero'] else ''})"


def interval(c: dict, sign: int = 1) -> str:
    low, high = sorted((sign * c["ci_low"], sign * c["ci_high"]))
    return f"{points(low)} … {points(high)}"


def p_value(c: dict) -> str:
    if "mcnemar_p" not in c:
        return "—"
    return f"{c['mcnemar_p']:.3f} ({c['n01']}↑ {c['n10']}↓)"


def power(c: dict) -> str:
    """'±24.1 underpowered' / '±3.2' / '—' (older results, or no item differed)."""
    if c.get("mde") is None:
        return "—"
    return f"±{c['mde'] * 100:.1f}" + (" underpowered" if c.get("underpowered") else "")


def section_paired(results: EvalResults) -> list[str]:
    info = results.paired or {}
    rows = [(t, label, c) for t, per in (info.get("targets") or {}).items() for label, c in per.items()]
    if not rows:
        return []
    first = info["against"]
    out = ["## Paired differences against " + f"**{first}**", "",
           f"Each metric on the items both targets answered (n); Δ = target − {first} in points; 95% interval "
           f"from {info['resamples']} paired bootstrap resamples (seed {info['seed']}); McNemar p for accuracy "
           "(exact binomial below 25 discordant items; ↑ items only the target got right, ↓ only "
           f"{first}). {LEGEND} {POWER_NOTE}", "",
           f"| target | metric | n | {first} % | target % | Δ | 95% CI | McNemar p | MDE |",
           "|---|---|---|---|---|---|---|---|---|"]
    for t, label, c in rows:
        out.append(f"| {t} | {label} | {c['n']} | {pct(c['a'])} | {pct(c['b'])} | {points(c['delta'])}"
                   f"{' ' + NS if c['spans_zero'] else ''} | {interval(c)} | {p_value(c)} | {power(c)} |")
    return out + [""] + section_compare(info)


def section_compare(info: dict) -> list[str]:
    """eval.compare: b against a for each listed pair, as the table above."""
    rows = [(pair, label, c) for pair in info.get("compare") or [] for label, c in pair["metrics"].items()]
    if not rows:
        return []
    out = ["### Further paired comparisons (eval.compare)", "",
           "Δ = b − a in points, on the items both answered; the interval, McNemar p and MDE as above.", "",
           "| a | b | metric | n | a % | b % | Δ | 95% CI | McNemar p | MDE |", "|---|---|---|---|---|---|---|---|---|---|"]
    for pair, label, c in rows:
        out.append(f"| {pair['a']} | {pair['b']} | {label} | {c['n']} | {pct(c['a'])} | {pct(c['b'])} | "
                   f"{points(c['delta'])}{' ' + NS if c['spans_zero'] else ''} | {interval(c)} | {p_value(c)} | "
                   f"{power(c)} |")
    return out + [""]


def section_ablation(suites: dict, targets: list[str], minimal_prompt: str) -> list[str]:
    rows = [(x, label, v) for x in targets for label, v in suites.get(x, {}).get("ablation", {}).items()]
    if not rows:
        return []
    out = ["## Prompt ablation (suite ablation)", "",
           f"The same items with the minimal system prompt 「{minimal_prompt}」 instead of the item's own; "
           "paired on the items answered with both prompts (n); Δ = minimal − full, in points. " + LEGEND, "",
           "| target | metric | n | full % | minimal % | Δ | 95% CI | McNemar p |", "|---|---|---|---|---|---|---|---|"]
    for x, label, v in rows:
        mc = f"{v['mcnemar_p']:.3f}" if "mcnemar_p" in v else "—"
        out.append(f"| {x} | {label} | {v['n']} | {pct(v['full'])} | {pct(v['minimal'])} | {points(v['delta'])}"
                   f"{' ' + NS if v['spans_zero'] else ''} | {interval(v)} | {mc} |")
    return out + [""]
