"""Text overlap with a reference: ROUGE-1/2/L and BLEU-4, in three modes (eval.rouge_tokenizer).

Why a tokeniser: rouge-score's default tokenizer keeps only [a-z0-9], so Chinese
scores 0 (DESIGN.md §6). rouge_score.rouge_scorer.RougeScorer(tokenizer=...) takes any
object with tokenize(text) -> list[str]. The modes:

  char          (default) CharTokenizer: NFKC, lower case; every CJK character (and kana)
                is a token; every run of other letters and digits, in any script, is a token
                ("ct", "38", "β", "μ" -- NFKC turns the micro sign µ into μ --, "b12");
                math symbols (≥ ≤ ± × + = < >) and % ‰ ° are one-character tokens, so
                "β受体" and "α受体", "≥7.0" and "≤7.0" differ; other punctuation and
                whitespace are dropped. ROUGE from rouge-score (counts n-grams with
                repeats, LCS over the whole text); BLEU-4 = char_bleu4 below.
  jieba         JiebaTokenizer: jieba.lcut words after NFKC and lower-casing, tokens without
                a letter or digit dropped; ROUGE from rouge-score. Word-level like
                LLaMA-Factory's, but NOT equal to it (it keeps punctuation tokens and counts
                distinct n-grams). BLEU-4 = char_bleu4.
  llamafactory  LLaMA-Factory's own compute_metrics, recomputed: evaluation/lf_metrics.py
                (jieba + rouge_chinese formulas, nltk BLEU-4 with smoothing method 3 on raw
                characters). Use it to compare with `llamafactory-cli train --do_predict`.

rouge(reference, prediction, tokenizer) -> {"rouge1", "rouge2", "rougeL"}: F-measures in
[0, 1] (rougeL = longest common subsequence over the whole text, no sentence split). An
empty prediction scores 0. overlap(reference, prediction, mode) -> ROUGE + "bleu4".

bleu4(reference_tokens, hypothesis_tokens): sentence BLEU-4 with uniform weights, smoothed
as NLTK's SmoothingFunction().method2 (Lin & Och 2004, "BLEU+1"); char_bleu4 applies it to
CharTokenizer tokens. (LLaMA-Factory smooths with method 3 over raw characters instead:
see the llamafactory mode.)
    p_1 = m_1 / max(1, h_1)                 unigram precision, clipped counts, NOT smoothed
    p_n = (m_n + 1) / (max(1, h_n) + 1)     for n = 2..4
    BP  = 1 if h > r else exp(1 - r / h)    (r, h: reference and hypothesis lengths)
    BLEU = BP * exp(mean(log p_n))          and 0 when m_1 = 0 or the hypothesis is empty
m_n: n-grams of the hypothesis also in the reference, each counted at most as often as
in the reference; h_n: n-grams in the hypothesis. Reported averaged over items.

Run as (scores one pair):
    python -m evaluation.overlap "参考答案文本" "模型回答文本" [char|jieba|llamafactory]
"""
from __future__ import annotations

import math
import re
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Sequence
from core.stage import command_status

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
# a CJK character | a run of letters/digits of any other script | one math symbol or % ‰ °
_CHAR_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|[%‰°\u00b1\u00d7\u00f7+<=>\u2200-\u22ff]")
_HAS_WORD = re.compile(r"[^\W_]")  # a letter or digit of any script


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").lower()


class CharTokenizer:
    name = "char"

    def tokenize(self, text: str) -> list[str]:
        return _CHAR_TOKEN.findall(_norm(text))


class JiebaTokenizer:
    name = "jieba"

    def __init__(self) -> None:
        import logging

        import jieba
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        self._cut = jieba.lcut

    def tokenize(self, text: str) -> list[str]:
        return [t for t in (w.strip() for w in self._cut(_norm(text))) if t and _HAS_WORD.search(t)]


@lru_cache(maxsize=None)
def tokenizer(name: str = "char"):
    if name == "char":
        return CharTokenizer()
    if name == "jieba":
        return JiebaTokenizer()
    raise ValueError(f"unknown tokenizer {name!r}; use char or jieba (or the llamafactory mode of overlap())")


@lru_cache(maxsize=None)
def _scorer(name: str):
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=tokenizer(name))


def rouge(reference: str, prediction: str, tokenizer_name: str = "char") -> dict[str, float]:
    """ROUGE-1/2/L F-measures (0..1) of `prediction` against `reference`."""
    if not (prediction or "").strip() or not (reference or "").strip():
        return {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    scores = _scorer(tokenizer_name).score(reference, prediction)
    return {k: float(v.fmeasure) for k, v in scores.items()}


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu4(reference: Sequence[str], hypothesis: Sequence[str], max_n: int = 4) -> float:
    """Smoothed sentence BLEU (0..1) of token lists; see the module docstring for the formula."""
    if not hypothesis or not reference:
        return 0.0
    log_sum = 0.0
    for n in range(1, max_n + 1):
        hyp, ref = _ngrams(hypothesis, n), _ngrams(reference, n)
        matches = sum(min(count, ref[gram]) for gram, count in hyp.items())
        total = max(1, sum(hyp.values()))
        if n == 1:
            if matches == 0:
                return 0.0
            p = matches / total
        else:
            p = (matches + 1) / (total + 1)
        log_sum += math.log(p)
    h, r = len(hypothesis), len(reference)
    brevity = 1.0 if h > r else math.exp(1 - r / h)
    return brevity * math.exp(log_sum / max_n)


def char_bleu4(reference: str, prediction: str) -> float:
    tok = tokenizer("char")
    return bleu4(tok.tokenize(reference), tok.tokenize(prediction))


MODES = ("char", "jieba", "llamafactory")


def overlap(reference: str, prediction: str, mode: str = "char") -> dict[str, float]:
    """ROUGE-1/2/L and BLEU-4 (0..1) in one of MODES."""
    if mode == "llamafactory":
        from evaluation import lf_metrics
        return lf_metrics.scores(reference, prediction)
    return {**rouge(reference, prediction, mode), "bleu4": char_bleu4(reference, prediction)}


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    name = argv[2] if len(argv) == 3 else "char"
    print({k: round(v, 4) for k, v in overlap(argv[0], argv[1], name).items()})
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
