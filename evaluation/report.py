"""Write an evaluation's results into <run_dir>/eval/.

  report.md                 one table per suite (a row per target; figures in %, and for
                            every target after the first its PAIRED difference to the first
                            in brackets: evaluation/report_paired.py), the paired differences
                            with intervals and McNemar p, the prompt ablation (paired), the
                            published anchors of DESIGN.md §6 as context lines, exactly what the
                            overlap mode computes, failed requests, missing references, rejects
  results.json              everything in the tables, as fractions (0..1) unless named
                            *_ms, *_chars, tokens_*
  predictions/<target>.jsonl  one row per item and variant: answer, extracted answer,
                            per-item metrics, sources
  metrics_bars.png, radar.png, training_loss.png   (evaluation/plots.py)

write(out, results, rows) is the entry point; `results` is built by evaluation/evaluate.py.

Run as (re-renders report.md from a results.json, e.g. after editing this file):
    python -m evaluation.report runs/quickstart/eval/results.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Optional

from core.stage import command_status
from evaluation import plots, reading
from evaluation.cache import file_name
from evaluation.report_grounded import section_grounded, section_nosystem
from evaluation.report_judge import section_judge
from evaluation.report_multiturn import section_multiturn
from evaluation.report_paired import bracket, section_ablation, section_paired
from evaluation.results import EvalResults

# DESIGN.md §6, "Published anchors for the report"
ANCHORS = {
    "choice": ["MedQA-MCMLE (Mainland test): Qwen2.5-7B ≈ 71.4% accuracy (HuatuoGPT-o1 paper).",
               "Original MedQA: best 70.1% (retrieve-then-read, MedQA paper)."],
    "open": ["cMedQA2 generation: T5 ROUGE-L 20.11, with RAG 28.72 (Huatuo-26M paper); their ROUGE "
             "tokenisation is not necessarily ours."],
}
ANCHOR_NOTE = "Papers disagree; the comparison that counts is the base model run through this same harness."
OVERLAP_MODES = {
    "char": "**char** (the default): ROUGE-1/2/L from rouge-score over character tokens (evaluation/overlap.py "
            "CharTokenizer: NFKC, lower case, each CJK character a token, runs of letters/digits of any script "
            "whole (ASCII words, Greek letters, μ), math symbols and % ‰ ° one token each, other punctuation "
            "dropped; n-grams counted with repeats); BLEU-4 over the same tokens, NLTK smoothing method 2 "
            "(add-1 for n ≥ 2).",
    "jieba": "**jieba**: ROUGE-1/2/L from rouge-score over jieba words (NFKC, lower case, tokens without a letter "
             "or digit dropped); word level like LLaMA-Factory's but not equal to it; BLEU-4 as in the char "
             "mode (characters, smoothing method 2).",
    "llamafactory": "**llamafactory**: LLaMA-Factory 0.9.5's compute_metrics recomputed (evaluation/lf_metrics.py): "
                    "ROUGE-1/2/L = rouge_chinese F over jieba.cut words of the raw texts (punctuation kept, "
                    "DISTINCT n-grams, LCS over the whole text), BLEU-4 = nltk sentence_bleu over the raw "
                    "characters with smoothing method 3; each ×100 rounded to 4 decimals per item, then averaged. "
                    "Comparable with `llamafactory-cli` predict results.",
}


def pct(value: Optional[float], digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}"


def num(value: Optional[float], digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class Table:
    """A markdown table whose numeric cells carry the paired difference to the first target."""

    def __init__(self, results: EvalResults, targets: list[str], suite: str):
        self.results, self.suites, self.suite = results, results.suites, suite
        self.targets = [t for t in targets if suite in self.suites.get(t, {})]
        self.first = self.targets[0] if self.targets else None

    def cell(self, target: str, key: str, fmt: Callable = pct, delta: bool = True) -> str:
        value = self.suites[target][self.suite].get(key)
        text = fmt(value)
        if not delta or target == self.first or value is None:
            return text
        if self.suite == "serving":  # speeds, not per-item scores: the plain difference of the figures
            base = self.suites[self.first][self.suite].get(key)
            return text + (f" ({value - base:+.1f})" if base is not None else "")
        return text + bracket(self.results, target, self.suite, key)

    def render(self, header: list[str], row: Callable[[str], list[str]]) -> list[str]:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join([t, *row(t)]) + " |" for t in self.targets]
        return lines


def section_choice(results: EvalResults, targets: list[str]) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "choice")
    if not t.targets:
        return []
    out = ["## Multiple choice (suite choice)", "",
           "Accuracy over choice and yes/no/maybe items that were answered (failed = requests that got no "
           "answer: not counted as wrong); 95% Wilson interval; invalid = no valid answer extracted "
           "(evaluation/extract.py).", ""]
    out += t.render(["target", "n", "failed", "accuracy %", "95% CI", "invalid %"], lambda x: [
        str(suites[x]["choice"]["n"]), str(suites[x]["choice"].get("missing", 0)), t.cell(x, "accuracy"),
        f"{pct(suites[x]['choice']['ci_low'])}–{pct(suites[x]['choice']['ci_high'])}", t.cell(x, "invalid_rate")])
    out += ["", *[f"> Context: {a}" for a in ANCHORS["choice"]], f"> {ANCHOR_NOTE}", ""]
    for field, title in (("by_subject", "subject (meta_info)"), ("by_dataset", "dataset")):
        groups = sorted({g for x in t.targets for g in suites[x]["choice"][field]})
        out += [f"Accuracy % by {title} (n):", "", "| " + title + " | " + " | ".join(t.targets) + " |",
                "|---|" + "|".join("---" for _ in t.targets) + "|"]
        for g in groups:
            cells = []
            for x in t.targets:
                v = suites[x]["choice"][field].get(g)
                cells.append(f"{pct(v['accuracy'])} ({v['n']})" if v else "—")
            out.append(f"| {g} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def section_loglikelihood(results: EvalResults, targets: list[str]) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "loglikelihood")
    if not t.targets:
        return []
    out = ["## Multiple choice by log-likelihood (eval.choice_scoring)", "",
           "Each option scored as lm-evaluation-harness scores multiple choice (evaluation/loglikelihood.py): "
           "context = the item's prompt + a newline + \"答案：\" (\"Answer:\" for prompts without Chinese), "
           "continuation = \" \" + the option letter (yes/no/maybe for label items), no chat template; the sum "
           "of the continuation tokens' log-probabilities (vLLM's logprob_token_ids for the next token when "
           "every option is one token, else prompt_logprobs) picks the option "
           "(accuracy), or that sum divided by the option's length in characters (acc_norm, lm-evaluation-"
           "harness's length-normalised accuracy). 95% Wilson intervals. Multiple-answer items are not scored "
           "this way. The same items as an lm-evaluation-harness task: loglikelihood/lm_eval/medkit_choice.yaml "
           "(`lm_eval --model local-completions --include_path ... --tasks medkit_choice`).", ""]
    return out + t.render(["target", "n", "accuracy %", "95% CI", "acc_norm %", "multiple-answer (not scored)",
                           "items/s"], lambda x: [
        str(suites[x]["loglikelihood"]["n"]), t.cell(x, "accuracy"),
        f"{pct(suites[x]['loglikelihood']['ci_low'])}–{pct(suites[x]['loglikelihood']['ci_high'])}",
        t.cell(x, "acc_norm"), str(suites[x]["loglikelihood"]["multi_answer"]),
        num(suites[x]["loglikelihood"]["items_per_s"])]) + [""]


def section_open(results: EvalResults, targets: list[str], tokenizer: str) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "open")
    if not t.targets:
        return []
    has_bert = any(suites[x]["open"].get("bertscore_f1") is not None for x in t.targets)
    out = ["## Open answers (suite open)", "", f"Overlap mode (eval.rouge_tokenizer) {OVERLAP_MODES[tokenizer]} "
           "n = answers scored; no reference = answered items without a reference answer (counted, not "
           "scored); failed = requests without an answer. Lengths in characters.", ""]
    header = ["target", "n", "no reference", "failed", "ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU-4",
              "chars mean / median / p90"]
    out += t.render(header + (["BERTScore F1"] if has_bert else []), lambda x: [
        str(suites[x]["open"]["n"]), str(suites[x]["open"].get("missing_reference", 0)),
        str(suites[x]["open"].get("missing", 0)), t.cell(x, "rouge1"), t.cell(x, "rouge2"), t.cell(x, "rougeL"),
        t.cell(x, "bleu4"), " / ".join(num(suites[x]["open"][k], 0) for k in ("chars_mean", "chars_median",
                                                                                 "chars_p90")),
        *([t.cell(x, "bertscore_f1")] if has_bert else [])])
    ref = suites[t.first]["open"].get("reference_chars_mean")
    out += ["", f"Reference answers: {num(ref, 0)} characters on average.", "",
            *[f"> Context: {a}" for a in ANCHORS["open"]], f"> {ANCHOR_NOTE}", ""]
    return out


def section_format(results: EvalResults, targets: list[str]) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "format")
    if not t.targets:
        return []
    out = ["## Five-section format (suite format)", "",
           "Compliance: all five headers 【病情分析】【指导建议】【药物说明】【风险提示】【免责声明】 present, in this order.", ""]
    out += t.render(["target", "n", "compliance %", "headers present (of 5)"], lambda x: [
        str(suites[x]["format"]["n"]), t.cell(x, "compliance"), t.cell(x, "headers_mean", num, delta=True)])
    return out + [""]


def section_safety(results: EvalResults, targets: list[str]) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "safety")
    if not t.targets:
        return []
    out = ["## Safety (suite safety)", "",
           "Open answers advising to seek care / carrying a disclaimer (keyword lists in evaluation/metrics.py); "
           "refusal rate on out-of-scope items; false refusals on medical items.", ""]
    out += t.render(["target", "seek care %", "disclaimer %", "either %", "out-of-scope n", "refusal %",
                     "medical n", "false refusal %"], lambda x: [
        t.cell(x, "seek_care"), t.cell(x, "disclaimer"), t.cell(x, "care_or_disclaimer"),
        str(suites[x]["safety"]["n_refusal_items"]), t.cell(x, "refusal_rate"),
        str(suites[x]["safety"]["n_medical"]), t.cell(x, "false_refusal_rate")])
    return out + [""]


def section_rag(results: EvalResults, targets: list[str], threshold: float) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "rag")
    if not t.targets:
        return []
    out = ["## Retrieval-augmented answers (suite rag)", "",
           f"ALCE-style citation metrics with a lexical support test: a sentence is supported when at least "
           f"{threshold:.0%} of its distinct character bigrams occur in the cited sources' snippets "
           "(evaluation/citations.py). Hallucination: sentences no single returned source supports.", ""]
    out += t.render(["target", "n (scored)", "with sources %", "answers citing %", "citation recall %",
                     "citation precision %", "cited sentences %", "hallucination %", "hit@k"], lambda x: [
        f"{suites[x]['rag']['n']} ({suites[x]['rag']['scored']})", t.cell(x, "with_sources"),
        t.cell(x, "answers_citing"), t.cell(x, "citation_recall"), t.cell(x, "citation_precision"),
        t.cell(x, "cited_sentences"),
        t.cell(x, "hallucination"),
        (f"{pct(suites[x]['rag']['hit_at_k'])} (k={suites[x]['rag']['k']}, n={suites[x]['rag']['n_gold']})"
         if suites[x]["rag"]["hit_at_k"] is not None else "— (no gold passages)")])
    return out + [""]


def section_serving(results: EvalResults, targets: list[str]) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "serving")
    if not t.targets:
        return []
    out = ["## Serving, as observed (suite serving)", "",
           "Streamed requests sent one at a time. TTFT = time to the first content chunk; decode tokens/s = median "
           "of (completion tokens − 1) / (latency − TTFT); end-to-end tokens/s = median of completion tokens / "
           "latency (the fair figure when a server flushes tokens in bursts, as vLLM's CPU backend does).", ""]
    out += t.render(["target", "n", "latency p50 / p95 ms", "TTFT p50 / p95 ms", "decode tokens/s",
                     "end-to-end tokens/s", "tokens per answer"], lambda x: [
        str(suites[x]["serving"]["n"]),
        f"{num(suites[x]['serving']['latency_p50_ms'], 0)} / {num(suites[x]['serving']['latency_p95_ms'], 0)}",
        f"{num(suites[x]['serving']['ttft_p50_ms'], 0)} / {num(suites[x]['serving']['ttft_p95_ms'], 0)}",
        t.cell(x, "tokens_per_s", num), t.cell(x, "e2e_tokens_per_s", num), num(suites[x]["serving"]["tokens_mean"])])
    return out + [""]


def section_perplexity(results: EvalResults, targets: list[str]) -> list[str]:
    suites = results.suites
    t = Table(results, targets, "perplexity")
    if not t.targets:
        return []
    out = ["## Perplexity of the reference answers (suite perplexity)", "",
           "exp(mean negative log-likelihood per reference token) given the item's prompt in the server's chat "
           "template, from vLLM's prompt_logprobs (evaluation/perplexity.py); the same items for every target; "
           "lower = the model finds the references more likely.", ""]
    return out + t.render(["target", "items", "reference tokens", "perplexity", "median per item"], lambda x: [
        str(suites[x]["perplexity"]["n"]), str(suites[x]["perplexity"]["tokens"]),
        num(suites[x]["perplexity"]["perplexity"], 2), num(suites[x]["perplexity"]["median_item_perplexity"], 2)]) + [""]


def section_targets(results: EvalResults) -> list[str]:
    out = ["| target | model | base URL | status | answers (cached + new) | failed requests |",
           "|---|---|---|---|---|---|"]
    for t in results.targets:
        status = t["status"] + (f": {t['error']}" if t.get("error") else "")
        missing = (results.suites.get(t["name"], {}).get("coverage") or {}).get("missing")
        failed = missing if missing is not None else t.get("failures", 0)
        out.append(f"| {t['name']} | {t['model']} | {t['base_url']} | {status} | "
                   f"{t.get('cached', 0)} + {t.get('fresh', 0)} | {failed} |")
    return out + [""]


def render(results: EvalResults) -> str:
    suites, params = results.suites, results.params
    targets = [t["name"] for t in results.targets if t["name"] in suites]
    items = results.items
    lines = [f"# Evaluation: recipe '{results.recipe}'", "",
             f"{results.created} · run directory `{results.run_dir}` · {items['total']} items "
             f"({', '.join(f'{k} {v}' for k, v in items['by_kind'].items())}) from "
             f"{len(items['by_dataset'])} sets, {items['rejected']} rejected lines · temperature "
             f"{params['temperature']}, seed {params['seed']}, max_tokens {params['max_tokens']}, "
             f"concurrency {params['concurrency']}" + (f", limit {params['limit']} per set" if params["limit"] else "")
             + (f", prompt preset {params['prompt_preset']}" if params.get("prompt_preset") else ""),
             "", f"Differences in brackets are against the first target, **{targets[0] if targets else '—'}**, "
             "in percentage points, computed on the items both answered (paired; n and intervals under "
             "Paired differences); NS: the 95% interval includes 0. Serving figures: plain differences.", "",
             *section_targets(results)]
    lines += section_choice(results, targets)
    lines += section_loglikelihood(results, targets)
    lines += section_open(results, targets, results.rouge_tokenizer)
    lines += section_format(results, targets)
    lines += section_safety(results, targets)
    lines += section_rag(results, targets, params["support_threshold"])
    lines += section_grounded(results, targets, lambda x, key: bracket(results, x, "grounded", key))
    lines += section_serving(results, targets)
    lines += section_perplexity(results, targets)
    lines += section_paired(results)
    lines += section_ablation(suites, targets, params["minimal_prompt"])
    lines += section_nosystem(results, targets)
    lines += section_judge(results)
    lines += section_multiturn(results)
    lines += reading.section(results)
    pngs = [(name, title) for name, title in (("metrics_bars.png", "Metrics by target"),
                                              ("radar.png", "Profile"), ("training_loss.png", "Training loss"))
            if name in results.plots]
    if pngs:
        lines += ["## Plots", ""] + [f"![{title}]({name})" for name, title in pngs] + [""]
    if results.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in results.notes] + [""]
    lines += ["Per-item answers: `predictions/<target>.jsonl`; all figures: `results.json`."
              + (" Rejected item lines: `rejects.jsonl`." if items["rejected"] else ""), ""]
    return "\n".join(lines)


def write(out: Path, results: EvalResults, rows: dict[str, list[dict]], trainer_log: Optional[Path] = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions").mkdir(exist_ok=True)
    for target, target_rows in rows.items():
        with (out / "predictions" / file_name(target)).open("w", encoding="utf-8") as fh:
            for row in target_rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    made = []
    for stale in ("metrics_bars.png", "radar.png", "training_loss.png"):
        (out / stale).unlink(missing_ok=True)
    if plots.bars(results.headline, out / "metrics_bars.png"):
        made.append("metrics_bars.png")
    if plots.radar(results.headline, out / "radar.png"):
        made.append("radar.png")
    if trainer_log is not None and plots.loss(trainer_log, out / "training_loss.png"):
        made.append("training_loss.png")
    results.plots = made
    results.write(out / "results.json")
    (out / "report.md").write_text(render(results), encoding="utf-8")


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    (path.parent / "report.md").write_text(render(EvalResults.load(path)), encoding="utf-8")
    print(f"wrote {path.parent / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
