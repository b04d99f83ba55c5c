"""Rewards for GRPO (TRL GRPOTrainer): a completion scored against the training row it was sampled for.

Each reward reuses the scorer the evaluation reports, so a reward means what the evaluation measures.
TRL calls them as name(prompts, completions, reference, **kwargs): prompts[i] the chat messages (a system
message may come first, the user turn last), completions[i] one assistant message ({"role", "content"}; a
plain string is read too), reference[i] the row's reference answer (the dataset column `reference`). Each
returns, per sample, a float in [0, 1] or None where the reward does not apply to the row (TRL skips it).

  exam       1.0 when the completion's answer equals the reference's, else 0.0 (an unreadable answer too).
             Letters: the options are the user turn's lines "A. text" / "A、text" / "A) text" / "(A) text" /
             "A：text" (a run from A, at least two), both answers read by extract_choice ("ACD" must match
             whole). Without options, yes/no/maybe read by extract_label, only when the user turn asks for
             such a label ("yes, no or maybe", 是、否或不确定): extract_label also reads one in open answers
             (56 of the 381 rows of an English-lane training set, which would all become exam rows).
             None: no readable reference answer.
  format     share of the five headers 【病情分析】…【免责声明】 (core/answer_format.py) the completion
             writes in that order: the longest in-order run of their first occurrences / 5, so 1.0 exactly
             when evaluation.metrics.five_sections calls it compliant. None: the reference is not
             five-section (lacks a header).
  citations  the completion's citation recall (evaluation/citations.py, support threshold 0.5): the share
             of its sentences (the 【免责声明】 section left out) that cite passages which together support
             them; a completion citing nothing scores 0. The sources are the numbered passages of the user
             turn ("[n] title" then the text, or "[n] text": core/rag_prompt.py), title and whole text.
             None: the user turn has no passages, or the reference cites none of them (it says the
             passages do not cover the question, or it refuses). Training references cite only their first
             sentence (converters/prep/noise.py), so they score about 0.2 themselves: the reward asks more.
  refusal    1.0 when is_refusal(completion) equals is_refusal(reference), else 0.0: declining an
             out-of-scope question and answering a medical one both score 1. Never None.

Texts are scored as the evaluation scores them (a reasoning block is left to the scorers: extract_choice,
extract_label and is_refusal read only the text after it; five_sections and answer_scores read it all).

reward_functions(["exam", "refusal"]) gives the functions in that order, each named by its key
(TRL logs "rewards/<__name__>/mean"); REWARDS holds all four.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable, Optional, Sequence

from core.answer_format import HEADERS
from evaluation.citations import answer_scores, cited, sentences
from evaluation.extract import extract_choice, extract_label
from evaluation.refusal import is_refusal

SUPPORT_THRESHOLD = 0.5  # eval.support_threshold's default: a sentence is supported from half its bigrams

Reward = Callable[..., list[Optional[float]]]

# an option line: "A. text"  "A．text"  "A、text"  "A) text"  "A：text"  "(A) text"  "（A）text"
_OPTION_LINE = re.compile(r"^[ \t]*(?:[(（]([A-Z])[)）]|([A-Z])[ \t]*[.．、)）:：])[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)
# a prompt asking for a yes/no(/maybe) label: "with yes, no or maybe"  "yes/no"  是、否或不确定  是或否
_ASKS_LABEL = re.compile(r"(?i:\byes\s*(?:,|/|\bor\b)\s*no\b)|是\s*(?:[、/／,，]|或者?|还是)\s*否")
# a numbered passage opens a line: "[2] title" or "[2] text"; its block runs to the next blank line
_PASSAGE_START = re.compile(r"^[ \t]*[\[［](\d+)[\]］][ \t]*(.*)$")


# --- reading TRL's arguments ------------------------------------------------------------------------------

def _content(message: Any) -> str:
    """The text of a message dict (content a string or a list of {"type": "text", "text"} parts) or a string."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    content = message.get("content") if isinstance(message, dict) else message
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return content or ""


def completion_text(completion: Any) -> str:
    """The assistant's text: the last message of a conversational completion, or the string itself."""
    if isinstance(completion, (list, tuple)):
        return _content(completion[-1]) if completion else ""
    return _content(completion)


def user_turn(prompt: Any) -> str:
    """The last user message of a conversational prompt, or the string itself."""
    if isinstance(prompt, (list, tuple)):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return _content(users[-1]) if users else ""
    return _content(prompt)


def _per_sample(score: Callable[[str, str, str], Optional[float]]) -> Reward:
    """A TRL reward function from score(user turn, completion text, reference) of one sample."""
    @functools.wraps(score)
    def reward(prompts: Sequence, completions: Sequence, reference: Sequence[Optional[str]],
               **kwargs: Any) -> list[Optional[float]]:
        rows = zip(prompts, completions, reference, strict=True)
        return [score(user_turn(p), completion_text(c), r or "") for p, c, r in rows]
    return reward


# --- exam -------------------------------------------------------------------------------------------------

def parse_options(prompt: str) -> dict[str, str]:
    """{letter: text} of the option lines, the run A, B, C… (first line per letter); {} below two options."""
    found: dict[str, str] = {}
    for match in _OPTION_LINE.finditer(prompt or ""):
        found.setdefault(match.group(1) or match.group(2), match.group(3))
    options = {}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in found:
            break
        options[letter] = found[letter]
    return options if len(options) >= 2 else {}


def asks_for_label(prompt: str) -> bool:
    """The prompt asks for yes/no(/maybe): the only rows where a label read from the reference is the answer."""
    return bool(_ASKS_LABEL.search(prompt or ""))


def _exam_score(prompt: str, completion: str, reference: str) -> Optional[float]:
    options = parse_options(prompt)
    if options:
        gold, got = extract_choice(reference, options), extract_choice(completion, options)
    elif asks_for_label(prompt):
        gold, got = extract_label(reference), extract_label(completion)
    else:
        return None
    if gold is None:
        return None
    return 1.0 if got == gold else 0.0


# --- format -----------------------------------------------------------------------------------------------

def is_five_section(text: str) -> bool:
    return all(header in (text or "") for header in HEADERS)


def headers_in_order(text: str) -> int:
    """How many of the five headers appear in the canonical order (first occurrence of each): 0..5."""
    positions = [(text.find(header), rank) for rank, header in enumerate(HEADERS)]
    ranks = [rank for position, rank in sorted(positions) if position >= 0]
    # longest increasing run of ranks (a subsequence); five items, so the quadratic form is enough
    best: list[int] = []
    for i, rank in enumerate(ranks):
        best.append(1 + max((best[j] for j in range(i) if ranks[j] < rank), default=0))
    return max(best, default=0)


def _format_score(prompt: str, completion: str, reference: str) -> Optional[float]:
    if not is_five_section(reference):
        return None
    return headers_in_order(completion) / len(HEADERS)


# --- citations --------------------------------------------------------------------------------------------

def parse_passages(prompt: str) -> list[dict]:
    """The numbered passages of a retrieval prompt as sources [{"index": n, "snippet": text}], in order.

    A block opens with "[n]" at a line start and runs to the next blank line; its lines are joined by a
    space, so "[n] title\\ntext" gives "title text" (the title is shown to the model, it may support a
    sentence). The whole text, not the gateway's 160-character snippet that the evaluation scores against:
    the completion saw the whole passage. The first block of each number counts."""
    blocks: dict[int, list[str]] = {}
    current: Optional[list[str]] = None
    for line in (prompt or "").splitlines():
        start = _PASSAGE_START.match(line)
        if start:
            index = int(start.group(1))
            current = [start.group(2).strip()] if index not in blocks else None
            if current is not None:
                blocks[index] = current
        elif not line.strip():
            current = None
        elif current is not None:
            current.append(line.strip())
    return [{"index": n, "snippet": " ".join(part for part in lines if part)} for n, lines in blocks.items()]


def cites_a_passage(text: str, passages: list[dict]) -> bool:
    """Some sentence of the text cites the number of one of the passages."""
    numbers = {p["index"] for p in passages}
    return any(n in numbers for sentence in sentences(text) for n in cited(sentence))


def _citations_score(prompt: str, completion: str, reference: str) -> Optional[float]:
    passages = parse_passages(prompt)
    if not passages or not cites_a_passage(reference, passages):
        return None
    scores = answer_scores(completion, passages, SUPPORT_THRESHOLD)
    return scores["citation_recall"] if scores else 0.0  # an empty reply has no sentence: it cites nothing


# --- refusal ----------------------------------------------------------------------------------------------

def _refusal_score(prompt: str, completion: str, reference: str) -> float:
    return 1.0 if is_refusal(completion) == is_refusal(reference) else 0.0


# --- the registry -----------------------------------------------------------------------------------------

def _named(name: str, score: Callable[[str, str, str], Optional[float]]) -> Reward:
    reward = _per_sample(score)
    reward.__name__ = reward.__qualname__ = name
    return reward


REWARDS: dict[str, Reward] = {
    "exam": _named("exam", _exam_score),
    "format": _named("format", _format_score),
    "citations": _named("citations", _citations_score),
    "refusal": _named("refusal", _refusal_score),
}


def reward_functions(names: Sequence[str]) -> list[Reward]:
    """The reward functions named, in that order; ValueError naming the unknown names and the known ones."""
    unknown = [name for name in names if name not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward(s) {', '.join(map(repr, unknown))}; known: {', '.join(REWARDS)}")
    return [REWARDS[name] for name in names]
