"""LLaMA-Factory's generation metrics, recomputed: eval.rouge_tokenizer = llamafactory.

What LLaMA-Factory 0.9.5 reports after `predict` (src/llamafactory/train/sft/metric.py,
ComputeSimilarity), per (prediction, label) pair, then the mean over pairs:
  ROUGE    hyp = list(jieba.cut(pred)), ref = list(jieba.cut(label))  (default jieba mode:
           punctuation, spaces and line breaks are tokens too; no lower-casing, no NFKC);
           if " ".join(hyp).split() or " ".join(ref).split() is empty: all three are 0; else
           rouge_chinese.Rouge().get_scores(" ".join(hyp), " ".join(ref))[0][m]["f"], which is
             text -> sentences: a break after 。！？? (unless a closing ” ’ follows), after
                     ...... and ……, and after 。！？? + ” ’ (unless more punctuation follows);
                     trailing whitespace dropped, split at \\n, empty pieces dropped, each piece
                     re-joined on single spaces; words = every piece split on " " (a piece of
                     spaces only gives one empty word, as rouge_chinese does)
             ROUGE-1/2  DISTINCT n-grams over the words of all sentences:
                        p = |H ∩ R| / |H|, r = |H ∩ R| / |R| (0 when a count is 0)
             ROUGE-L    LCS length over the whole word lists (duplicates counted):
                        p = lcs / n_hyp, r = lcs / n_ref
             f = 2·p·r / (p + r + 1e-8)
  BLEU-4   nltk sentence_bleu([list(label)], list(pred), smoothing method3): CHARACTERS of the
           raw strings (spaces and punctuation included), uniform weights 0.25:
             p_n = clipped matches / max(1, hypothesis n-grams);   0 when no unigram matches
             method3 (NIST): the k-th order with no match gets p_n = 1 / (2^k · max(1, h_n))
             BP = 1 if len(pred) > len(label) else exp(1 - len(label) / len(pred))
             BLEU = BP · exp(Σ 0.25 · log p_n)
  each × 100 and rounded to 4 decimals per pair (as LLaMA-Factory does), then averaged.
Returned here as fractions (value / 100) so the report prints LLaMA-Factory's figures.
Checked against the real rouge_chinese 1.0.3 and nltk 3.10.4 on fixed pairs
(tests/evaluation/data/llamafactory_reference.json, tests/evaluation/test_lf_metrics.py).

Run as (scores one pair):
    python -m evaluation.lf_metrics "参考答案文本" "模型回答文本"
"""
from __future__ import annotations

import math
import re
import sys
from collections import Counter
from functools import lru_cache
from core.stage import command_status


@lru_cache(maxsize=1)
def _jieba_cut():
    import logging

    import jieba
    jieba.setLogLevel(logging.CRITICAL)
    jieba.initialize()
    return jieba.cut


def cut_sentences(text: str) -> list[str]:
    """rouge_chinese's sentence split of a space-joined token string."""
    text = re.sub(r"([。！？?])([^”’])", r"\1\n\2", text)
    text = re.sub(r"(\.{6})([^”’])", r"\1\n\2", text)
    text = re.sub(r"(…{2})([^”’])", r"\1\n\2", text)
    text = re.sub(r"([。！？?][”’])([^，。！？?])", r"\1\n\2", text)
    return [" ".join(piece.split()) for piece in text.rstrip().split("\n") if piece]


def _words(text: str) -> list[str]:
    return [w for sentence in cut_sentences(text) for w in sentence.split(" ")]


def _f(overlap: int, hyp: int, ref: int) -> float:
    p = overlap / hyp if hyp else 0.0
    r = overlap / ref if ref else 0.0
    return 2.0 * ((p * r) / (p + r + 1e-8))


def _lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence length, O(len(a)·len(b)) time, O(len(b)) memory."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_f(hyp_text: str, ref_text: str) -> dict[str, float]:
    """rouge_chinese F-measures (0..1) of two space-joined token strings."""
    hyp, ref = _words(hyp_text), _words(ref_text)
    out = {}
    for n in (1, 2):
        h = {tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1)}
        r = {tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)}
        out[f"rouge-{n}"] = _f(len(h & r), len(h), len(r))
    out["rouge-l"] = _f(_lcs_length(ref, hyp), len(hyp), len(ref))
    return out


def bleu_method3(label: str, pred: str) -> float:
    """nltk sentence_bleu([list(label)], list(pred), method3), 0..1."""
    hyp, ref = list(pred), list(label)
    logs = []
    missing = 0
    for n in range(1, 5):
        h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
        r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
        matches = sum(min(count, r[gram]) for gram, count in h.items())
        total = max(1, sum(h.values()))
        if n == 1 and matches == 0:
            return 0.0
        if matches == 0:
            missing += 1
            p = 1 / (2 ** missing * total)
        else:
            p = matches / total
        logs.append(0.25 * math.log(p))
    if len(hyp) > len(ref):
        brevity = 1.0
    else:
        brevity = math.exp(1 - len(ref) / len(hyp))
    return brevity * math.exp(math.fsum(logs))


def scores(label: str, pred: str) -> dict[str, float]:
    """{"rouge1", "rouge2", "rougeL", "bleu4"}: LLaMA-Factory's per-pair figures / 100."""
    label, pred = label or "", pred or ""
    cut = _jieba_cut()
    hyp, ref = " ".join(cut(pred)), " ".join(cut(label))
    if not hyp.split() or not ref.split():
        rouge = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    else:
        rouge = rouge_f(hyp, ref)
    pct = {"rouge1": rouge["rouge-1"], "rouge2": rouge["rouge-2"], "rougeL": rouge["rouge-l"],
           "bleu4": bleu_method3(label, pred)}
    return {k: round(v * 100, 4) / 100 for k, v in pct.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    print({k: round(v * 100, 4) for k, v in scores(argv[0], argv[1]).items()})
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
