"""The grounded suite and the no-system-message variant in report.md (evaluation/grounded.py and
suite nosystem of evaluation/suites.py compute them)."""
from __future__ import annotations

from evaluation.report_paired import LEGEND, NS, interval, pct, points
from evaluation.results import EvalResults


def section_grounded(results: EvalResults, targets: list[str], bracket) -> list[str]:
    """`bracket(target, key)`: the paired difference to the first target for a cell, or ''."""
    suites = results.suites
    shown = [t for t in targets if "grounded" in suites.get(t, {})]
    if not shown:
        return []
    out = ["## Grounded answers (suite grounded)", "",
           "Questions whose answer is a fact stated in one corpus passage and in no training answer. Fact given: "
           "every key phrase of the fact is in the answer (95% Wilson interval). Under retrieval: answers citing a "
           "source [n]; citation precision: of the sources an answer cites, the share whose passage states the fact "
           "(mean over the answers that cite); contradicted: answers citing a same-topic passage that does not state "
           "it; hit@k: the fact's passage was among the sources; fact | hit: fact given when it was; "
           "not covered: says the sources do not cover the question (evaluation/refusal.py, not a refusal).", "",
           "| target | n | fact given % | 95% CI | refused % | not covered % | citing % | citation precision % "
           "| contradicted % | hit@k % | fact given when hit % |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in shown:
        g = suites[x]["grounded"]
        out.append(f"| {x} | {g['n']} | {pct(g['fact_accuracy'])}{bracket(x, 'fact_accuracy')} | "
                   f"{pct(g['ci_low'])} … {pct(g['ci_high'])} | {pct(g['refusal_rate'])} | {pct(g.get('not_covered_rate'))} | "
                   f"{pct(g.get('answers_citing'))}{bracket(x, 'answers_citing')} | "
                   f"{pct(g.get('citation_precision'))}{bracket(x, 'citation_precision')} | "
                   f"{pct(g.get('contradicted'))} | {pct(g.get('hit_at_k'))} | {pct(g.get('fact_when_hit'))} |")
    return out + [""]


NOSYSTEM_LABELS = ("five-section format", "answered (medical)", "refusal (out of scope)")


def section_nosystem(results: EvalResults, targets: list[str]) -> list[str]:
    suites = results.suites
    shown = [t for t in targets if "nosystem" in suites.get(t, {})]
    if not shown:
        return []
    out = ["## Without a system message (suite nosystem)", "",
           "The open and out-of-scope items sent with no system message, as OpenAI clients and Dify send a chat "
           "unless told (the chat template's default system prompt applies), against the same items with the "
           f"item's own system prompt; paired, Δ = without − with, in points. {LEGEND}", "",
           "| target | metric | n | with % | without % | Δ | 95% CI |", "|---|---|---|---|---|---|---|"]
    for x in shown:
        paired = suites[x]["nosystem"].get("paired") or {}
        for label in NOSYSTEM_LABELS:
            v = paired.get(label)
            if v:
                out.append(f"| {x} | {label} | {v['n']} | {pct(v['full'])} | {pct(v['minimal'])} | "
                           f"{points(v['delta'])}{' ' + NS if v['spans_zero'] else ''} | {interval(v)} |")
    return out + [""]
