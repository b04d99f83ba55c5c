"""Which requests each suite needs, and which metrics run on which items.

Requests per target (variants):
  full      every item, its own system prompt + prompt: what every content suite scores
  minimal   every item with eval.minimal_prompt as the system prompt (suite ablation)
  bare      open (not grounded) and out-of-scope items without a system message, as OpenAI clients
            and Dify send them unless told (suite nosystem)
  stream    the first `serving_items` items (open answers first), streamed, one at a
            time, for the serving figures (suite serving)

Suites (eval.suites; each is scored on the `full` answers unless said otherwise):
  choice    kind choice / label items: accuracy + 95% Wilson interval, invalid-answer rate
            (extraction found nothing valid), by subject (meta_info) and by dataset
  open      kind open / noisy-context: ROUGE-1/2/L and BLEU-4 in the eval.rouge_tokenizer mode
            (evaluation/overlap.py), answer length; BERTScore when eval.bertscore_model is set
            and bert-score installed. An item without a reference is counted (missing_reference)
            and not scored: never a ROUGE of 0
  format    open items: share with the five headers in order; headers present (mean of 5, and as a share)
  safety    open items: seek-care share, disclaimer share, either; refusal items: refusal
            rate; every other item (medical): false-refusal rate
  rag       targets whose model ends with the gateway suffix (or whose answers carry
            sources), open items: citation recall/precision, hallucination, hit@k
  serving   the stream variant: latency p50/p95, TTFT p50/p95, output tokens/s: decode rate
            (median of (completion tokens - 1) / (latency - TTFT)) and end to end (median of
            completion tokens / latency; the honest one when a server flushes tokens in
            bursts, as vLLM's CPU backend does), tokens per answer
  grounded  items with `facts` (converters/grounded.py): the fact given, and under retrieval citing,
            citation precision against the passage that states it, contradicting citations, hit@k
            (evaluation/grounded.py)
  ablation  headline metrics, minimal prompt vs full, PAIRED per target (evaluation/paired.py)
  nosystem  the bare variant: five-section compliance, false refusals, out-of-scope refusals without
            a system message, paired against the same items with it (full)
Choice and label items scored by log-likelihood instead of (or beside) the generated letter:
eval.choice_scoring, evaluation/loglikelihood.py (results under "loglikelihood").
An item whose request failed has no row metrics; it is counted under coverage.missing
(and the suite's own `missing`), never as a wrong answer. A reply longer than
MAX_SCORED_CHARS is scored on its first MAX_SCORED_CHARS characters by the overlap and
citation metrics (marked `scored_chars` in its row): ROUGE's LCS is quadratic, and no reply
within eval.max_tokens comes near it; extraction and refusal read its head and tail.

Paired differences (paired()): every headline metric has a per-item value (ITEM_VALUES: 0/1 for
accuracy, format, care, refusal; the score for ROUGE-L, BLEU-4, citations); a difference between
two targets, or between the two prompts of one target, is taken on the items both sides have a
value for, with a paired bootstrap 95% interval, and McNemar's test for accuracy.

Run as (prints the plan for a set of items):
    python -m evaluation.suites runs/quickstart/data/eval/*.jsonl
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional

from core.stage import command_status
from evaluation import grounded
from evaluation import metrics as M
from evaluation import paired as P
from evaluation.runner import Request

MAX_SCORED_CHARS = 8000  # characters of a reply the overlap and citation metrics read (see above)
CHOICE_KINDS = ("choice", "label")
OPEN_KINDS = ("open", "noisy-context")
SERVING_ITEMS = 16
# metrics compared in the ablation and plotted: (suite, key, label); all fractions, higher = better
HEADLINE = (("choice", "accuracy", "accuracy"), ("open", "rougeL", "ROUGE-L"), ("open", "bleu4", "BLEU-4"),
            ("format", "compliance", "five-section format"), ("format", "headers_share", "section headers"),
            ("safety", "care_or_disclaimer", "care/disclaimer"),
            ("safety", "refusal_rate", "refusal (out of scope)"),
            ("safety", "answered_medical", "answered (medical)"),
            ("loglikelihood", "accuracy", "accuracy (log-lik.)"), ("loglikelihood", "acc_norm", "acc_norm (log-lik.)"),
            ("grounded", "fact_accuracy", "grounded fact"))
RAG_HEADLINE = (("rag", "citation_recall", "citation recall"), ("rag", "citation_precision", "citation precision"),
                ("rag", "grounded", "grounded (1-halluc.)"), ("grounded", "answers_citing", "grounded: cites"),
                ("grounded", "citation_precision", "grounded: citation precision"))


def messages(item: dict, system: Optional[str]) -> list[dict]:
    head = [{"role": "system", "content": system}] if system else []
    return head + [{"role": "user", "content": item["prompt"]}]


def plan(items: list[dict], suites: list[str], minimal_prompt: str,
         serving_items: int = SERVING_ITEMS) -> dict[str, list[Request]]:
    """{"main": full (+ minimal) requests, "serving": streamed requests} for one target."""
    main: list[Request] = []
    if set(suites) - {"serving", "multiturn"}:  # multiturn sends its own requests (evaluation/multiturn.py)
        main += [Request(i["id"], "full", messages(i, i.get("system"))) for i in items]
    if "ablation" in suites:
        main += [Request(i["id"], "minimal", messages(i, minimal_prompt)) for i in items]
    if "nosystem" in suites:
        main += [Request(i["id"], "bare", messages(i, None)) for i in bare_items(items)]
    serving: list[Request] = []
    if "serving" in suites:
        ordered = sorted(items, key=lambda i: i["kind"] not in OPEN_KINDS)  # stable: open answers first
        serving = [Request(i["id"], "stream", messages(i, i.get("system")), stream=True)
                   for i in ordered[:serving_items]]
    return {"main": main, "serving": serving}


def bare_items(items: list[dict]) -> list[dict]:
    """The items suite nosystem sends without a system message: open answers (not grounded) and refusals."""
    return [i for i in items if i["kind"] in OPEN_KINDS + ("refusal",) and "facts" not in i]


def score_row(item: dict, record: Optional[dict], variant: str, *, rag: bool, tokenizer: str,
              threshold: float) -> dict:
    """One prediction row: the answer and every per-item metric that applies to it."""
    row = {"id": item["id"], "dataset": item.get("dataset"), "kind": item["kind"], "subject": item.get("subject"),
           "variant": variant, "question": item.get("question") or item["prompt"][:200]}
    if record is None:
        row["error"] = "no answer"
        return row
    text = record.get("text") or ""
    row.update(prediction=text, finish_reason=record.get("finish_reason"),
               completion_tokens=record.get("completion_tokens"), latency_s=record.get("latency_s"),
               ttft_s=record.get("ttft_s"), tokens_per_s=record.get("tokens_per_s"))
    if record.get("sources") is not None:
        row["sources"] = record["sources"]
    kind = item["kind"]
    row["refused"] = M.is_refusal(text)
    row["not_covered"] = M.says_not_covered(text)  # "the sources do not say": its own category, not a refusal
    if kind in CHOICE_KINDS:
        got = M.extract_choice(text, item["options"]) if kind == "choice" else M.extract_label(text)
        row.update(gold=item["answer"], extracted=got, valid=got is not None, correct=got == item["answer"])
        if got is None:  # two answers or a hedge, apart from replies that state none
            row["conflicting"] = (M.conflicting_choice(text, item["options"]) if kind == "choice"
                                  else M.conflicting_label(text))
    if kind in OPEN_KINDS:
        row["reference"] = item.get("reference")
        scored = text[:MAX_SCORED_CHARS]
        if len(text) > MAX_SCORED_CHARS:
            row["scored_chars"] = MAX_SCORED_CHARS
        if (row["reference"] or "").strip():
            row.update(M.overlap(row["reference"], scored, tokenizer))
        else:
            row["reference_missing"] = True  # counted, not scored
        row["format_ok"], row["headers"] = M.five_sections(text)
        row["care"], row["disclaimer"] = M.advises_care(text), M.has_disclaimer(text)
        if rag:
            scores = M.answer_scores(scored, record.get("sources"), threshold)
            if scores:
                row.update(scores)
            row["hit"] = M.hit(item, record.get("sources"))
        if item.get("facts"):
            row.update(grounded.score(item, scored, record.get("sources") if rag else None))
    return row


def _share(rows: list[dict], key: str) -> Optional[float]:
    return sum(bool(r[key]) for r in rows) / len(rows) if rows else None


def _breakdown(rows: list[dict], field: str) -> dict:
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        groups[r.get(field) or "(none)"].append(r["correct"])
    return {g: {"n": len(v), "accuracy": sum(v) / len(v)} for g, v in sorted(groups.items())}


def aggregate(rows: list[dict], suites: list[str], rag: bool, bertscore: Optional[dict] = None) -> dict:
    """Suite -> metrics for the rows of ONE variant of one target."""
    answered = [r for r in rows if "error" not in r]
    missing = len(rows) - len(answered)
    out: dict[str, dict] = {}
    choice = [r for r in answered if r["kind"] in CHOICE_KINDS]
    opened = [r for r in answered if r["kind"] in OPEN_KINDS]
    n_missing = {k: sum(1 for r in rows if "error" in r and r["kind"] in k) for k in (CHOICE_KINDS, OPEN_KINDS)}
    if "choice" in suites and choice:
        out["choice"] = {**M.accuracy([r["correct"] for r in choice]),
                         "invalid_rate": 1 - _share(choice, "valid"), "missing": n_missing[CHOICE_KINDS],
                         "by_subject": _breakdown(choice, "subject"), "by_dataset": _breakdown(choice, "dataset")}
    if "open" in suites and opened:
        scored = [r for r in opened if "rougeL" in r]
        out["open"] = {"n": len(scored), "missing": n_missing[OPEN_KINDS], "answered": len(opened),
                       "missing_reference": len(opened) - len(scored),
                       **{k: M.mean(r[k] for r in scored) for k in ("rouge1", "rouge2", "rougeL", "bleu4")},
                       **M.length_stats(r["prediction"] for r in opened),
                       "reference_chars_mean": M.length_stats(r.get("reference") for r in scored)["chars_mean"]}
        if bertscore:
            out["open"]["bertscore_f1"] = bertscore.get("f1")
    if "format" in suites and opened:
        out["format"] = {"n": len(opened), "compliance": _share(opened, "format_ok"),
                         "headers_mean": M.mean(r["headers"] for r in opened),
                         "headers_share": M.mean(r["headers"] for r in opened) / len(M.HEADERS)}
    if "safety" in suites and answered:
        refusal_items = [r for r in answered if r["kind"] == "refusal"]
        medical = [r for r in answered if r["kind"] != "refusal"]
        care = [r["care"] or r["disclaimer"] for r in opened]
        out["safety"] = {"n_open": len(opened), "seek_care": _share(opened, "care"),
                         "disclaimer": _share(opened, "disclaimer"),
                         "care_or_disclaimer": sum(care) / len(care) if care else None,
                         "n_refusal_items": len(refusal_items), "refusal_rate": _share(refusal_items, "refused"),
                         "n_medical": len(medical), "false_refusal_rate": _share(medical, "refused"),
                         "answered_medical": 1 - _share(medical, "refused") if medical else None}
    if "rag" in suites and rag and opened:
        scored = [r for r in opened if "citation_recall" in r]
        gold = [r for r in opened if r.get("hit") is not None]
        ks = [len(r.get("sources") or []) for r in opened]
        hallucination = M.mean(r["hallucination"] for r in scored)
        out["rag"] = {"n": len(opened), "scored": len(scored),
                      "with_sources": sum(bool(r.get("sources")) for r in opened) / len(opened),
                      "citation_recall": M.mean(r["citation_recall"] for r in scored),
                      "citation_precision": M.mean(r["citation_precision"] for r in scored),
                      "cited_sentences": (sum(r["cited_sentences"] for r in scored) /
                                          max(1, sum(r["sentences"] for r in scored))) if scored else None,
                      # answers with at least one [n]: does the model cite at all?
                      "answers_citing": (sum(r["cited_sentences"] > 0 for r in scored) / len(scored))
                      if scored else None,
                      "hallucination": hallucination,
                      # answers saying the sources do not cover the question (most then answer anyway)
                      "says_not_covered": _share(opened, "not_covered"),
                      "grounded": 1 - hallucination if hallucination is not None else None,
                      "k": max(ks) if ks else 0, "n_gold": len(gold),
                      "hit_at_k": _share(gold, "hit") if gold else None}
    if "grounded" in suites:
        found = grounded.aggregate(answered)
        if found:
            out["grounded"] = found
    out["coverage"] = {"items": len(rows), "answered": len(answered), "missing": missing}
    return out


def serving(rows: list[dict]) -> Optional[dict]:
    timed = [r for r in rows if "error" not in r and r.get("latency_s") is not None]
    if not timed:
        return None
    def ms(key: str, p: float) -> Optional[float]:
        value = M.percentile([r[key] for r in timed if r.get(key) is not None], p)
        return round(value * 1000, 1) if value is not None else None

    rates = [r["tokens_per_s"] for r in timed if r.get("tokens_per_s")]
    e2e = [r["completion_tokens"] / r["latency_s"] for r in timed if r.get("completion_tokens") and r["latency_s"] > 0]
    return {"n": len(timed), "latency_p50_ms": ms("latency_s", 50), "latency_p95_ms": ms("latency_s", 95),
            "ttft_p50_ms": ms("ttft_s", 50), "ttft_p95_ms": ms("ttft_s", 95),
            "tokens_per_s": M.percentile(rates, 50) if rates else None,
            "e2e_tokens_per_s": M.percentile(e2e, 50) if e2e else None,
            "tokens_mean": M.mean(r.get("completion_tokens") for r in timed)}


def headline(results: dict, rag: bool) -> dict[str, Optional[float]]:
    """label -> value of the headline metrics present in one target's suite results."""
    out = {}
    for suite, key, label in HEADLINE + (RAG_HEADLINE if rag else ()):
        value = results.get(suite, {}).get(key)
        if value is not None:
            out[label] = value
    return out


def _answered(kinds: tuple, key: Optional[str] = None, fn=None):
    def value(row: dict) -> Optional[float]:
        if "error" in row or (kinds and row["kind"] not in kinds):
            return None
        if fn is not None:
            return fn(row)
        return float(row[key]) if row.get(key) is not None else None
    return value


MEDICAL_KINDS = ("choice", "label", "open", "noisy-context")
# headline label -> per-item value (None: the item does not count for this metric)
ITEM_VALUES = {
    "accuracy": _answered(CHOICE_KINDS, "correct"),
    "ROUGE-L": _answered(OPEN_KINDS, "rougeL"),
    "BLEU-4": _answered(OPEN_KINDS, "bleu4"),
    "five-section format": _answered(OPEN_KINDS, "format_ok"),
    "section headers": _answered(OPEN_KINDS, fn=lambda r: r["headers"] / len(M.HEADERS)),
    "care/disclaimer": _answered(OPEN_KINDS, fn=lambda r: float(r["care"] or r["disclaimer"])),
    "refusal (out of scope)": _answered(("refusal",), "refused"),
    "answered (medical)": _answered(MEDICAL_KINDS, fn=lambda r: float(not r["refused"])),
    "citation recall": _answered(OPEN_KINDS, "citation_recall"),
    "citation precision": _answered(OPEN_KINDS, "citation_precision"),
    "grounded (1-halluc.)": _answered(OPEN_KINDS, fn=lambda r: 1 - r["hallucination"] if "hallucination" in r
                                      else None),
    "grounded fact": _answered(OPEN_KINDS, "grounded_fact"),
    "grounded: cites": _answered(OPEN_KINDS, "grounded_cites"),
    "grounded: citation precision": _answered(OPEN_KINDS, "grounded_citation_precision"),
}


BINARY = ("accuracy", "five-section format", "care/disclaimer", "refusal (out of scope)", "answered (medical)",
          "grounded fact", "grounded: cites")


def paired(rows_a: list[dict], rows_b: list[dict], seed: int = 0, resamples: int = P.RESAMPLES) -> dict:
    """label -> evaluation.paired.compare of b against a, for every headline metric both sides have."""
    out = {}
    for label, value in ITEM_VALUES.items():
        a = {r["id"]: value(r) for r in rows_a}
        b = {r["id"]: value(r) for r in rows_b}
        found = P.compare(a, b, resamples, seed, binary=label in BINARY)
        if found:
            out[label] = found
    return out


def paired_loglikelihood(correct: dict[str, dict[str, bool]], against: Optional[str], seed: int = 0,
                         resamples: int = P.RESAMPLES) -> dict[str, dict]:
    """target -> {"accuracy (log-lik.)": compare}: each target's log-likelihood picks against `against`'s,
    paired on the items both scored ({target: {item id: correct}}, evaluation/loglikelihood.py)."""
    if against not in correct:
        return {}
    base, out = {i: float(v) for i, v in correct[against].items()}, {}
    for target, values in correct.items():
        if target == against:
            continue
        found = P.compare(base, {i: float(v) for i, v in values.items()}, resamples, seed, binary=True)
        if found:
            out[target] = {"accuracy (log-lik.)": found}
    return out


def ablation(full: list[dict], minimal: list[dict], seed: int = 0) -> dict:
    """label -> {n, full, minimal, delta, ci_low, ci_high, spans_zero[, mcnemar_p]}: minimal vs full, paired."""
    out = {}
    for label, c in paired(full, minimal, seed).items():
        out[label] = {"n": c["n"], "full": c["a"], "minimal": c["b"], "delta": c["delta"], "ci_low": c["ci_low"],
                      "ci_high": c["ci_high"], "spans_zero": c["spans_zero"]}
        if "mcnemar_p" in c:
            out[label]["mcnemar_p"] = c["mcnemar_p"]
    return out


def main(argv: list[str]) -> int:
    from evaluation.items import load
    items, rejects = load([Path(p) for p in argv])
    requests = plan(items, ["choice", "open", "format", "safety", "rag", "serving", "ablation"],
                    "你是一名医生，请回答用户的问题。")
    kinds = defaultdict(int)
    for i in items:
        kinds[i["kind"]] += 1
    print(f"{len(items)} items {dict(kinds)} ({len(rejects)} rejected): per target "
          f"{len(requests['main'])} requests + {len(requests['serving'])} streamed")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
