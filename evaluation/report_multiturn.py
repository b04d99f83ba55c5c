"""The multi-turn consultations section of report.md (figures from evaluation/multiturn.py)."""
from __future__ import annotations

from typing import Optional
from evaluation.results import EvalResults


def _pct(value: Optional[float]) -> str:
    return "—" if value is None else f"{value * 100:.1f}"


def section_multiturn(results: EvalResults) -> list[str]:
    found = results.multiturn
    if not found:
        return []
    out = ["## Multi-turn consultations", "",
           f"{found['items']} consultations from `{found['file']}`, answered turn by turn with each target's own "
           "earlier answers in the history. ROUGE-L: characters, against the turn's reference; five sections: all "
           "five headers present; asks back: the first answer asks about a fact the first message left out "
           "(age, duration, severity; a rule); consistent: the judge finds the final answer consistent with the "
           "earlier turns.", "",
           "| target | turn | answered | ROUGE-L % | five sections % |", "|---|---|---|---|---|"]
    for name, t in found["targets"].items():
        for turn in t["per_turn"]:
            out.append(f"| {name} | {turn['turn']} | {turn['answered']} | {_pct(turn['rouge_l'])} | "
                       f"{_pct(turn['five_sections'])} |")
    out += ["", "| target | complete | asks back % (n) | consistent % (n judged) | status |", "|---|---|---|---|---|"]
    for name, t in found["targets"].items():
        judged = "—" if t.get("consistent_n") is None else f"{_pct(t.get('consistent'))} ({t['consistent_n']})"
        status = t["status"] + (f": {t['error']}" if t.get("error") else "")
        out.append(f"| {name} | {t['complete']} of {t['items']} | {_pct(t['asks_back'])} ({t['asks_back_items']}) | "
                   f"{judged} | {status} |")
    judge = found.get("judge")
    if judge is None:
        out += ["", "Consistency needs a judge: set `eval.judge`."]
    elif judge.get("error"):
        out += ["", f"Consistency judge `{judge['model']}` {judge['status']}: {judge['error']}."]
    return out + [""]
