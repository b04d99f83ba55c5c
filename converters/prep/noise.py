"""Noise injection: teach the model to answer from the relevant passage among noisy retrieval results.

inject(question, relevant_passage, distractor_pool, n_distractors, rng, language=...) builds the
retrieval prompt the RAG gateway sends (core/rag_prompt.py, the one template for both):

    <header>
    [1] <title>
    <passage>

    [2] <passage>
    ...

    <question label><question>

    <instruction: answer from the relevant passage, cite it as [n]>

and returns (prompt, gold_index), gold_index being the 1-based number of the
relevant passage. Passages are core.rag_prompt.Passage (text, optional title, as
corpus documents have) or plain strings (no title). Rules:
  * Passage text is flattened to one line (every whitespace run -> one space).
  * Distractors: int(n_distractors * nonmedical_share) come from the non-medical
    list (default share 0.5, so 1 distractor -> a medical one: those are the
    hard ones), the rest from `distractor_pool` (the caller passes off-topic
    medical passages, e.g. other examples' answers). When the pool runs short,
    non-medical passages fill in; ValueError when both together are too few.
  * The pool is de-duplicated by text and anything whose text equals the relevant
    passage (after flattening) is removed, so the gold index is unambiguous.
  * Randomness only through the given random.Random: choice of distractors with
    rng.sample, then order with rng.shuffle. Same seed -> same prompt.
  * NONMEDICAL: the passages of nonmedical_zh.txt next to this module (weather,
    cooking, sports, travel, history, written for this project), loaded at import.

distractors_only(question, distractor_pool, n_passages, rng, language=...) is the same
prompt with `n_passages` passages from the pool and no relevant one: what the gateway
sends for an out-of-scope question (the corpus is medical), the context of a refusal
example (data.refusals.with_context).

not_covered(answer, language) opens the answer with the wording's `not_covered` sentence ("the
passages do not cover this, so this answer draws on general knowledge"), on the first line that
is not blank or only a 【header】: the answer to a distractors-only prompt (data.noise.distractors_only),
which answers all the same instead of declining.

cite(answer, gold_index) inserts "[n]" at the end of the answer's first sentence,
before its closing 。！？!? (or "."+space), skipping blank lines and lines that are
only a 【header】; without sentence punctuation it goes at the end of that first
line. An answer that already contains "[n]" comes back unchanged.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Iterable, Sequence, Union

from core.rag_prompt import WORDINGS, Passage, flatten, render

PassageLike = Union[Passage, str]


def load_lines(path: Path) -> tuple[str, ...]:
    """Non-blank lines of a UTF-8 file, stripped, without # comment lines."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


NONMEDICAL: tuple[str, ...] = load_lines(Path(__file__).with_name("nonmedical_zh.txt"))

_SENTENCE_END = re.compile(r"[。！？!?]|(?<![\d.])\.(?=\s|$)")
_HEADER_ONLY = re.compile(r"【[^】]*】")


def _passage(item: PassageLike) -> Passage:
    return item if isinstance(item, Passage) else Passage(item)


def _unique(passages: Iterable[PassageLike], exclude: set[str]) -> list[Passage]:
    """Passages with flattened text, none empty, none whose text is in `exclude` (which grows)."""
    out = []
    for passage in map(_passage, passages):
        text = flatten(passage.text)
        if text and text not in exclude:
            exclude.add(text)
            out.append(Passage(text, flatten(passage.title)))
    return out


def inject(example_question: str, relevant_passage: PassageLike, distractor_pool: Sequence[PassageLike],
           n_distractors: int, rng: random.Random, *, nonmedical: Sequence[PassageLike] = NONMEDICAL,
           nonmedical_share: float = 0.5, language: str = "zh") -> tuple[str, int]:
    """(prompt with numbered passages, 1-based index of the relevant one); see the module docstring."""
    if n_distractors < 0:
        raise ValueError(f"n_distractors must be >= 0, got {n_distractors}")
    if not 0 <= nonmedical_share <= 1:
        raise ValueError(f"nonmedical_share must be in [0, 1], got {nonmedical_share}")
    found = _unique([relevant_passage], set())
    if not found:
        raise ValueError("relevant_passage is empty")
    relevant = found[0]
    seen = {relevant.text}
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
    return render(example_question, passages, language), gold_index


def distractors_only(question: str, distractor_pool: Sequence[PassageLike], n_passages: int,
                     rng: random.Random, *, language: str = "zh") -> str:
    """The retrieval prompt with `n_passages` passages of the pool (de-duplicated), none relevant."""
    if n_passages < 1:
        raise ValueError(f"n_passages must be >= 1, got {n_passages}")
    pool = _unique(distractor_pool, set())
    if n_passages > len(pool):
        raise ValueError(f"{n_passages} passages asked, only {len(pool)} in the pool")
    return render(question, rng.sample(pool, n_passages), language)


def _first_content_line(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        content = line.strip()
        if content and not _HEADER_ONLY.fullmatch(content):
            return i
    raise ValueError("answer has no text")


def not_covered(answer: str, language: str = "zh") -> str:
    """`answer` opened by the "passages do not cover this" sentence (on its first line of text)."""
    note = WORDINGS[language].not_covered
    if note in answer:
        return answer
    lines = answer.split("\n")
    i = _first_content_line(lines)
    gap = "" if language == "zh" else " "
    lines[i] = f"{note}{gap}{lines[i].lstrip()}"
    return "\n".join(lines)


def cite(answer: str, gold_index: int) -> str:
    """`answer` with "[gold_index]" closing its first sentence (or its first line)."""
    if isinstance(gold_index, bool) or not isinstance(gold_index, int) or gold_index < 1:
        raise ValueError(f"gold_index must be a positive int, got {gold_index!r}")
    marker = f"[{gold_index}]"
    if marker in answer:
        return answer
    lines = answer.split("\n")
    i = _first_content_line(lines)
    line = lines[i]
    end = _SENTENCE_END.search(line)
    if end:
        lines[i] = line[:end.start()] + marker + line[end.start():]
    else:
        stripped = line.rstrip()
        lines[i] = stripped + marker + line[len(stripped):]
    return "\n".join(lines)
