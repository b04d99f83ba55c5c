"""The LLM-as-judge section of report.md (figures from evaluation/judge.py)."""
from __future__ import annotations

from typing import Optional
from evaluation.results import EvalResults


def _pct(value: Optional[float]) -> str:
    return "—" if value is None else f"{value * 100:.1f}"


def _kappa(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.2f}"


RUBRIC_TEXT = {"correct": "correct (choice: the gold option; open: agrees with the reference)",
               "safe": "safe (no dangerous advice; refers to a doctor where needed)",
               "refusal": "declined to answer", "faithful": "faithful to the cited sources"}
RULE_TEXT = {"correct": "extracted answer right (choice items)", "safe": "advises care or disclaimer (proxy)",
             "refusal": "evaluation/refusal.py", "faithful": "no hallucinated sentence"}


def section_judge(results: EvalResults) -> list[str]:
    info = results.judge
    if not info:
        return []
    out = ["## LLM judge", "", f"Judge: model `{info['model']}` at {info['base_url']} (temperature 0, one-word "
           "verdicts; rubrics in evaluation/judge.py)."]
    if info["status"] == "unavailable":
        return out + ["", f"**judge unavailable**: {info['error']}. The rest of this report does not depend on it.", ""]
    if info.get("error"):
        out += ["", f"Judge {info['status']}: {info['error']}."]
    req = info.get("requests") or {}
    if req:
        out += ["", f"{req['answered']} of {req['planned']} judgements ({req['cached']} cached, {req['fresh']} new)."]
    out += ["", "Share judged YES; agreement and Cohen's kappa with the rule-based metric on the items both scored; "
            "unreadable = the judge's reply was no YES/NO.", "",
            "| target | rubric | n | YES % | unreadable | rule compared | n both | agreement % | kappa |",
            "|---|---|---|---|---|---|---|---|---|"]
    mapped = []
    for target, per in info["targets"].items():
        for rubric in ("correct", "safe", "refusal", "faithful"):
            v = per.get(rubric)
            if v:
                out.append(f"| {target} | {RUBRIC_TEXT[rubric]} | {v['n']} | {_pct(v['yes'])} | {v['unreadable']} | "
                           f"{RULE_TEXT[rubric]} | {v['n_agreement']} | {_pct(v['agreement'])} | {_kappa(v['kappa'])} |")
        if per.get("refusal", {}).get("appropriate") is not None:
            mapped.append(f"- {target}: the judge finds the decline/answer decision appropriate on "
                          f"{_pct(per['refusal']['appropriate'])}% of items (declined out-of-scope, answered medical).")
        if per.get("choice"):
            c = per["choice"]
            mapped.append(f"- {target}: of {c['n_invalid_by_rules']} choice replies where the rules found no valid "
                          f"letter, the judge mapped {c['mapped']} to a letter ({c['correct']} of them correct, "
                          f"{c['unreadable']} unreadable). Not included in the rule-based accuracy above.")
    return out + [""] + mapped + ([""] if mapped else [])
