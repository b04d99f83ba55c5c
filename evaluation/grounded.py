"""The grounded suite: questions whose answer is a fact stated in one corpus passage and in no
training answer (converters/grounded.py writes them: items with `facts`, `topic`, `gold_doc_ids`).

Per answer (score; the row keys carry a grounded_ prefix):
  fact            every key phrase of the item's `facts` is in the answer (case and whitespace
                  ignored, citation marks removed): the fact is given
  refused         the reply declines (evaluation/refusal.py)
With retrieval (the answer came with the gateway's numbered `sources`):
  cites           the answer cites at least one [n] that is among the sources
  citation_precision  of the distinct [n] it cites among the sources, the share whose passage states
                  the fact: the gold passage (metadata.doc_id in gold_doc_ids), or a passage whose
                  shown text holds every key phrase; None when it cites nothing valid
  contradicted    it cites a passage on the same topic (metadata.topic) that does not state the fact:
                  a sibling passage with another dose, interval or threshold (the corpus's hard
                  distractors), so a reader following the citation reads something else
  hit             the gold passage is among the sources (retrieval could help at all)
The judge (eval.judge) grades these answers as every open answer; the fact test stays lexical.

aggregate(rows) -> {n, fact_accuracy (Wilson 95%), refusal_rate, not_covered_rate (says the sources do not
cover it, evaluation/refusal.py), and with retrieval answers_citing,
citation_precision (mean over the answers that cite), contradicted, hit_at_k, fact_when_hit}.

Run as (scores one answer):
    python -m evaluation.grounded "Adults take 500 mg every 8 hours [1]." "500 mg" "every 8 hours"
"""
from __future__ import annotations

import sys
from typing import Optional

from core.stage import command_status
from evaluation import metrics as M
from evaluation.citations import cited, strip_citations


def _norm(text: str) -> str:
    return " ".join(strip_citations(text).lower().replace("‑", "-").replace("–", "-").split())


def states(text: str, facts: list[str]) -> bool:
    """Every key phrase in `text` (case, whitespace and citation marks ignored)."""
    found = _norm(text)
    return bool(facts) and all(_norm(f) in found for f in facts)


def score(item: dict, answer: str, sources: Optional[list[dict]]) -> dict:
    """The grounded metrics of one answer (see the module docstring)."""
    facts, gold = item["facts"], set(item.get("gold_doc_ids") or [])
    row = {"fact": states(answer, facts)}
    if sources is None:
        return {f"grounded_{k}": v for k, v in row.items()}
    by_index = {int(s.get("index", i)): s for i, s in enumerate(sources, start=1)}
    numbers = [n for n in cited(answer) if n in by_index]
    holds = [(by_index[n].get("metadata") or {}).get("doc_id") in gold
             or states((by_index[n].get("snippet") or "").rstrip("…"), facts) for n in numbers]
    siblings = [(by_index[n].get("metadata") or {}).get("topic") == item.get("topic") and not ok
                for n, ok in zip(numbers, holds)]
    row.update(cites=bool(numbers), citation_precision=sum(holds) / len(holds) if holds else None,
               contradicted=any(siblings) if item.get("topic") else False,
               hit=any((s.get("metadata") or {}).get("doc_id") in gold for s in sources) if gold else None)
    return {f"grounded_{k}": v for k, v in row.items()}  # beside the rag suite's citation_precision, hit


def _mean(values: list) -> Optional[float]:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def aggregate(rows: list[dict]) -> Optional[dict]:
    """The suite's figures over the answered grounded rows (rows carrying `fact`); None without any."""
    rows = [r for r in rows if "grounded_fact" in r and "error" not in r]
    if not rows:
        return None
    given = M.accuracy([r["grounded_fact"] for r in rows])
    out = {"n": len(rows), "facts_given": given["correct"], "fact_accuracy": given["accuracy"],
           "ci_low": given["ci_low"], "ci_high": given["ci_high"],
           "refusal_rate": _mean([r.get("refused") for r in rows]),
           "not_covered_rate": _mean([r.get("not_covered") for r in rows])}
    with_sources = [r for r in rows if "grounded_cites" in r]
    if with_sources:
        citing = [r for r in with_sources if r["grounded_cites"]]
        hits = [r for r in with_sources if r.get("grounded_hit")]
        out.update(answers_citing=len(citing) / len(with_sources),
                   citation_precision=_mean([r["grounded_citation_precision"] for r in citing]),
                   contradicted=_mean([r["grounded_contradicted"] for r in with_sources]),
                   hit_at_k=_mean([r["grounded_hit"] for r in with_sources]),
                   fact_when_hit=_mean([r["grounded_fact"] for r in hits]))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    print(score({"facts": argv[1:]}, argv[0], None))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
