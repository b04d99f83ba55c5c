"""Out-of-scope refusal samples: non-medical questions answered with a fixed refusal.

A medical assistant fine-tuned only on medical QA will happily answer anything;
a few percent of refusal examples teach it to stay in scope.

refusal_examples(count, rng, refusal_text=DEFAULT_REFUSAL) -> list[Example]:
  * Questions come from out_of_scope_zh.txt next to this module (62 non-medical
    questions written for this project: programming, finance, travel, sports,
    law, homework, cooking, devices, cars, hobbies, careers), loaded at import.
  * Each round over the list uses a fresh rng.shuffle of it, so the first
    len(QUESTIONS) examples are all different questions, in a seeded order.
  * Round k (0-based) rewrites every question with VARIANTS[k % len(VARIANTS)],
    a (prefix, suffix) pair: round 0 is the question as written, then
    "请问" / "你好，" / "您好，" / "想问一下，" / "麻烦问下，" prefixes, then the same
    with "谢谢！" or "在线等，急。" appended. Instructions are therefore unique
    for count <= len(QUESTIONS) * len(VARIANTS) (62 * 18 = 1116); beyond that
    they repeat (the light variation is not meant to fake diversity).
  * output is `refusal_text` for every example (the same sentence each time, so
    the model learns one clear behaviour); source is "out_of_scope_zh.txt:<line>";
    meta is {"kind": "refusal"}.
Deterministic: the only randomness is the rng passed in.
"""
from __future__ import annotations

import random
from pathlib import Path

from converters.common import Example

DEFAULT_REFUSAL = ("抱歉，我是医疗健康助手，只能回答与健康、疾病和医学相关的问题，无法回答这个问题。"
                   "如果您有身体不适或健康方面的疑问，欢迎随时向我咨询。")

QUESTIONS_FILE = Path(__file__).with_name("out_of_scope_zh.txt")
PREFIXES = ("", "请问", "你好，", "您好，", "想问一下，", "麻烦问下，")
SUFFIXES = ("", "谢谢！", "在线等，急。")
VARIANTS: tuple[tuple[str, str], ...] = tuple((p, s) for s in SUFFIXES for p in PREFIXES)  # ("", "") first


def _load(path: Path) -> tuple[tuple[int, str], ...]:
    """(1-based line number, question) for each non-blank, non-comment line."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            out.append((number, line))
    return tuple(out)


QUESTIONS: tuple[tuple[int, str], ...] = _load(QUESTIONS_FILE)


def refusal_examples(count: int, rng: random.Random, refusal_text: str = DEFAULT_REFUSAL,
                     questions_file: Path | None = None) -> list[Example]:
    """`count` refusal examples; see the module docstring for the order and variation rules.

    `questions_file` replaces the built-in Chinese list (same format: one question per
    line, # comments). Its questions are used as written: the Chinese prefix/suffix
    variants apply to the built-in list only, so beyond one round they repeat.
    """
    questions, variants, source = QUESTIONS, VARIANTS, QUESTIONS_FILE
    if questions_file is not None:
        questions, variants, source = _load(questions_file), (("", ""),), questions_file
        if not questions:
            raise ValueError(f"{questions_file}: no questions (one per line; # starts a comment)")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not refusal_text.strip():
        raise ValueError("refusal_text is empty")
    examples: list[Example] = []
    order: list[tuple[int, str]] = []
    for i in range(count):
        round_, position = divmod(i, len(questions))
        if position == 0:
            order = list(questions)
            rng.shuffle(order)
        line, question = order[position]
        prefix, suffix = variants[round_ % len(variants)]
        examples.append(Example(instruction=f"{prefix}{question}{suffix}", output=refusal_text.strip(),
                                source=f"{source.name}:{line}", meta={"kind": "refusal"}))
    return examples


def held_out_refusals(questions_file: Path, refusal_text: str = DEFAULT_REFUSAL) -> list[Example]:
    """One refusal example per question of `questions_file`, in the test split (meta split "test"): questions
    held out for evaluation, never trained on. No randomness: the training examples stay as they were."""
    questions = _load(questions_file)
    if not questions:
        raise ValueError(f"{questions_file}: no questions (one per line; # starts a comment)")
    return [Example(instruction=question, output=refusal_text.strip(), source=f"{questions_file.name}:{line}",
                    meta={"kind": "refusal", "split": "test"}) for line, question in questions]
