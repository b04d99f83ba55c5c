"""Noise injection: teach the model to answer from the relevant passage among noisy retrieval results.

inject(question, relevant_passage, distractor_pool, n_distractors, rng) builds

    以下是检索到的参考资料，其中只有一条与问题相关，其余可能与问题无关：
    [1] <passage>
    [2] <passage>
    ...

    问题：<question>

    请只依据与问题相关的参考资料回答，忽略无关内容，并在回答中用 [编号] 注明所依据的资料。

and returns (prompt, gold_index), gold_index being the 1-based number of the
relevant passage. Rules:
  * Passages are flattened to one line (every whitespace run -> one space), so
    each "[n] " line is exactly one passage.
  * Distractors: int(n_distractors * nonmedical_share) come from the non-medical
    list (default share 0.5, so 1 distractor -> a medical one: those are the
    hard ones), the rest from `distractor_pool` (the caller passes off-topic
    medical passages, e.g. other examples' answers). When the pool runs short,
    non-medical passages fill in; ValueError when both together are too few.
  * The pool is de-duplicated and anything equal to the relevant passage (after
    flattening) is removed, so the gold index is unambiguous.
  * Randomness only through the given random.Random: choice of distractors with
    rng.sample, then order with rng.shuffle. Same seed -> same prompt.
  * NONMEDICAL: the passages of nonmedical_zh.txt next to this module (weather,
    cooking, sports, travel, history, written for this project), loaded at import.

cite(answer, gold_index) inserts "[n]" at the end of the answer's first sentence,
before its closing 。！？!? (or "."+space), skipping blank lines and lines that are
only a 【header】; without sentence punctuation it goes at the end of that first
line. An answer that already contains "[n]" comes back unchanged.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Iterable, Sequence

HEADER = "以下是检索到的参考资料，其中只有一条与问题相关，其余可能与问题无关："
INSTRUCTION = "请只依据与问题相关的参考资料回答，忽略无关内容，并在回答中用 [编号] 注明所依据的资料。"


def load_lines(path: Path) -> tuple[str, ...]:
    """Non-blank lines of a UTF-8 file, stripped, without # comment lines."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


NONMEDICAL: tuple[str, ...] = load_lines(Path(__file__).with_name("nonmedical_zh.txt"))

_SENTENCE_END = re.compile(r"[。！？!?]|(?<![\d.])\.(?=\s|$)")
_HEADER_ONLY = re.compile(r"【[^】]*】")


def flatten(text: str) -> str:
    return " ".join(text.split())


def _unique(passages: Iterable[str], exclude: set[str]) -> list[str]:
    out = []
    for passage in map(flatten, passages):
        if passage and passage not in exclude:
            exclude.add(passage)
            out.append(passage)
    return out


def inject(example_question: str, relevant_passage: str, distractor_pool: Sequence[str],
           n_distractors: int, rng: random.Random, *, nonmedical: Sequence[str] = NONMEDICAL,
           nonmedical_share: float = 0.5) -> tuple[str, int]:
    """(prompt with numbered passages, 1-based index of the relevant one); see the module docstring."""
    if n_distractors < 0:
        raise ValueError(f"n_distractors must be >= 0, got {n_distractors}")
    if not 0 <= nonmedical_share <= 1:
        raise ValueError(f"nonmedical_share must be in [0, 1], got {nonmedical_share}")
    relevant = flatten(relevant_passage)
    if not relevant:
        raise ValueError("relevant_passage is empty")
    seen = {relevant}
    medical = _unique(distractor_pool, seen)
    others = _unique(nonmedical, seen)
    n_other = int(n_distractors * nonmedical_share)
    n_medical = min(len(medical), n_distractors - n_other)
    n_other = n_distractors - n_medical          # the non-medical list fills a short pool
    if n_other > len(others):
        raise ValueError(f"{n_distractors} distractors asked, only {len(medical)} medical "
                         f"and {len(others)} non-medical passages available")
    passages = rng.sample(medical, n_medical) + rng.sample(others, n_other) + [relevant]
    rng.shuffle(passages)
    gold_index = passages.index(relevant) + 1    # unique: duplicates of it were removed above
    numbered = "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))
    prompt = f"{HEADER}\n{numbered}\n\n问题：{example_question.strip()}\n\n{INSTRUCTION}"
    return prompt, gold_index


def cite(answer: str, gold_index: int) -> str:
    """`answer` with "[gold_index]" closing its first sentence (or its first line)."""
    if isinstance(gold_index, bool) or not isinstance(gold_index, int) or gold_index < 1:
        raise ValueError(f"gold_index must be a positive int, got {gold_index!r}")
    marker = f"[{gold_index}]"
    if marker in answer:
        return answer
    lines = answer.split("\n")
    for i, line in enumerate(lines):
        content = line.strip()
        if not content or _HEADER_ONLY.fullmatch(content):
            continue
        end = _SENTENCE_END.search(line)
        if end:
            lines[i] = line[:end.start()] + marker + line[end.start():]
        else:
            stripped = line.rstrip()
            lines[i] = stripped + marker + line[len(stripped):]
        return "\n".join(lines)
    raise ValueError("answer has no text to cite")
