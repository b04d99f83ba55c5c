"""What an Example's meta says about it: the bare question, the source's own answer, its category.

Shared by the data build (converters/build.py) and its report (converters/report.py).
"""
from __future__ import annotations

from converters.common import Example


def is_open_answer(example: Example) -> bool:
    """Free-text answers (not multiple choice, not yes/no, not refusals, not task outputs such as
    PromptCBLUE's entity lists and labels)."""
    return "answer" not in example.meta and example.meta.get("kind") not in ("refusal", "task")


def original_answer(example: Example) -> str:
    """The answer as the source wrote it: evaluation references, RAG passages and noise passages use
    it, so five-section placeholders never reach ROUGE or retrieval context."""
    return example.meta.get("original_output", example.output)


def question_of(example: Example) -> str:
    return example.meta.get("question") or example.instruction


def subject_of(example: Example) -> str | None:
    """Category for breakdowns: subject, else the source's own category / meta_info."""
    meta = example.meta
    return meta.get("subject") or meta.get("category") or meta.get("meta_info")
