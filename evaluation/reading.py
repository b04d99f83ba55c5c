"""How the replies were read: the counts and samples behind report.md's audit section.

Per target, on its `full` answers:
  choice     choice and yes/no/maybe replies: n, invalid (no valid answer read, evaluation/extract.py), of
             those conflicting (answers stated that disagree, or a hedge between options), truncated
             (finish_reason "length": cut by eval.max_tokens, so a final answer may be missing)
  open       open replies: n, truncated, refused and says the sources do not cover it (evaluation/refusal.py),
             five-section format
  refusal    out-of-scope items: n, refused
  samples    per kind, up to SAMPLES replies drawn with eval.seed (the same draw on a rerun), each with
             what was read from it: the answer letter or label, refused or not, the format verdict
so a reader can check the rules against the replies themselves.
"""
from __future__ import annotations

import random
from typing import Optional

from evaluation.results import EvalResults
from evaluation.suites import CHOICE_KINDS, OPEN_KINDS

SAMPLES = 3       # replies shown per kind and target
REPLY_CHARS = 160  # of each reply shown


def read_as(row: dict) -> str:
    """What the rules read from one reply, in words."""
    if row["kind"] in CHOICE_KINDS:
        return f"answer {row['extracted']}" if row.get("valid") else "no valid answer (invalid)"
    if row["kind"] == "refusal":
        return "refused" if row["refused"] else "answered (not a refusal)"
    parts = ["refused" if row["refused"] else "answered",
             "five sections" if row.get("format_ok") else f"{row.get('headers', 0)}/5 section headers"]
    return ", ".join(parts)


def summary(rows: list[dict], seed: int) -> dict:
    """Counts and seeded samples for one target's rows (see the module docstring)."""
    full = [r for r in rows if r.get("variant") == "full" and "error" not in r]
    truncated = lambda rs: sum(r.get("finish_reason") == "length" for r in rs)  # noqa: E731
    choice = [r for r in full if r["kind"] in CHOICE_KINDS]
    opened = [r for r in full if r["kind"] in OPEN_KINDS]
    refusal = [r for r in full if r["kind"] == "refusal"]
    out: dict = {"choice": {"n": len(choice), "invalid": sum(not r.get("valid") for r in choice),
                            "conflicting": sum(bool(r.get("conflicting")) for r in choice),
                            "truncated": truncated(choice)},
                 "open": {"n": len(opened), "truncated": truncated(opened),
                          "refused": sum(r["refused"] for r in opened),
                          "not_covered": sum(bool(r.get("not_covered")) for r in opened),
                          "five_sections": sum(bool(r.get("format_ok")) for r in opened)},
                 "refusal": {"n": len(refusal), "refused": sum(r["refused"] for r in refusal)}}
    rng, samples = random.Random(seed), []
    for kind, group in (("choice", choice), ("open", opened), ("refusal", refusal)):
        for r in rng.sample(group, min(SAMPLES, len(group))):
            reply = " ".join((r.get("prediction") or "").split())
            samples.append({"kind": kind, "id": r["id"], "reply": reply[:REPLY_CHARS]
                            + ("…" if len(reply) > REPLY_CHARS else ""), "read": read_as(r),
                            "truncated": r.get("finish_reason") == "length"})
    out["samples"] = samples
    return out


def section(results: EvalResults) -> list[str]:
    """report.md's 'How the replies were read' from results.reading."""
    reading: Optional[dict] = results.reading
    if not reading:
        return []
    out = ["## How the replies were read", "",
           "Per target, on the answers with the item's own prompt: invalid = no valid answer read from a choice "
           "or yes/no/maybe reply (counted wrong, shown as the invalid rate), of which conflicting = the reply "
           "states answers that disagree, hedges between options or names a letter that is no option; "
           "truncated = cut by eval.max_tokens (finish_reason length); refused = read as a refusal; not covered = "
           "says the sources do not cover the question (its own category, not a refusal: most such replies "
           "answer all the same). Then a few replies drawn with the evaluation's seed, with what the rules read "
           "from them.", "",
           "| target | choice n | invalid | conflicting | truncated | open n | truncated | refused | not covered | "
           "five sections | out-of-scope n | refused |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for target, r in reading.items():
        c, o, f = r["choice"], r["open"], r["refusal"]
        out.append(f"| {target} | {c['n']} | {c['invalid']} | {c.get('conflicting', 0)} | {c['truncated']} | "
                   f"{o['n']} | {o['truncated']} | {o['refused']} | {o.get('not_covered', 0)} | "
                   f"{o['five_sections']} | {f['n']} | {f['refused']} |")
    out.append("")
    for target, r in reading.items():
        if r["samples"]:
            out += [f"Replies of **{target}**:", "", "| kind | item | reply (start) | read as |", "|---|---|---|---|"]
            out += [f"| {s['kind']} | {s['id']} | {escape(s['reply'])}{' (truncated)' if s['truncated'] else ''} | "
                    f"{s['read']} |" for s in r["samples"]]
            out.append("")
    return out


def escape(text: str) -> str:
    """A reply inside a markdown table cell."""
    return text.replace("|", "\\|").replace("<", "&lt;") or "(empty)"
