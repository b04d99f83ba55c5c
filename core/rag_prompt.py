"""The retrieval prompt: one template for training and serving, so they cannot drift.

Noise injection and refusals with context (converters/prep/noise.py, `make data`) write
training examples with it; the RAG gateway (serve/gateway/service.py) writes the last
user turn of a '-rag' request with it. A model fine-tuned with data.noise therefore sees
at serving time byte for byte the layout it learnt from.

render(question, passages, language) with passages [Passage(text, title), ...] gives

    <header>
    [1] <title>
    <text, whitespace runs flattened to one space>

    [2] <text of a passage without a title>

    <question label><question>

    <instruction>

Without passages, the context is the `no_passages` line. `language` ("zh" or "en",
the recipe's rag.prompt) picks the wording; the layout is the same for both. The instruction
asks for an answer either way: from the passage that holds it (cited), or, when none does, from
general knowledge after saying so (`not_covered`, the sentence training answers open with in that
case: converters/prep/noise.py). Declining is left to out-of-scope questions.
`assemble` takes ready blocks, for the gateway, which cuts blocks to its character budget.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Passage:
    text: str
    title: str = ""


@dataclass(frozen=True)
class Wording:
    header: str
    question: str        # the label before the question
    instruction: str
    no_passages: str
    not_covered: str     # opens an answer whose passages do not hold it (data.noise.distractors_only)


WORDINGS: dict[str, Wording] = {
    "zh": Wording(
        header="以下是检索到的参考资料，其中可能有与问题无关的内容：",
        question="问题：",
        instruction="请依据与问题相关的参考资料回答，忽略无关内容，并在回答中用 [编号] 注明所依据的资料（例如 [1]）。"
                    "如果参考资料没有涉及该问题，请先说明这一点，再根据一般医学知识回答，不要编造引用。",
        no_passages="（没有检索到相关资料）",
        not_covered="参考资料没有涉及这个问题，以下根据一般医学知识回答。"),
    "en": Wording(
        header="Retrieved reference passages (some may be unrelated to the question):",
        question="Question: ",
        instruction="Answer from the passage relevant to the question, ignore the unrelated ones, and cite "
                    "the passage you rely on by its number, e.g. [1]. If no passage covers the question, say so "
                    "and answer from general medical knowledge, without citing.",
        no_passages="(no passages were retrieved)",
        not_covered="The retrieved passages do not cover this question, so this answer draws on general "
                    "medical knowledge."),
}
LANGUAGES = tuple(WORDINGS)


def flatten(text: str) -> str:
    """Every whitespace run -> one space, ends stripped: a passage's text is one line."""
    return " ".join(text.split())


def block(index: int, passage: Passage) -> str:
    """'[n] title' then the text on the next line; '[n] text' without a title."""
    text, title = flatten(passage.text), flatten(passage.title)
    return f"[{index}] {title}\n{text}" if title else f"[{index}] {text}"


def assemble(question: str, blocks: Sequence[str], language: str = "zh") -> str:
    """The prompt around numbered blocks (from `block`, possibly cut), blank lines between them."""
    wording = WORDINGS[language]
    context = "\n\n".join(blocks) if blocks else wording.no_passages
    return f"{wording.header}\n{context}\n\n{wording.question}{question.strip()}\n\n{wording.instruction}"


def render(question: str, passages: Sequence[Passage], language: str = "zh") -> str:
    """The prompt with `passages` numbered from 1 in the order given."""
    return assemble(question, [block(i, p) for i, p in enumerate(passages, start=1)], language)
