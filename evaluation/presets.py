"""Prompt presets (eval.prompt_preset): exam items asked the way another evaluation tool asks them,
so that a figure from `make eval` can be set beside a published one.

One preset, "opencompass", follows OpenCompass (github.com/open-compass/opencompass, read at commit
a5acc4bba3b658f151617a3b393602110fb7a740). It rewrites the prompt of every choice item whose `format`
(the `make data` source format) it knows, and clears the item's system prompt: OpenCompass sends
the template as the only (HUMAN) turn. Items of other formats, and non-choice items, are left as
they are; so is a known-format item that lacks a field the template needs (counted in `Applied.kept`).

  cmb    opencompass/configs/datasets/cmb/cmb_gen_dfb5c4.py (what cmb_gen.py imports), with the
         option string built as opencompass/datasets/cmb.py builds it:
             以下是中国{exam_type}中{exam_class}考试的一道{question_type}，不需要做任何分析和解释，直接输出答案选项。
             {question}
             {option_str} \\n 答案:<space>
         option_str = "A. text" lines joined by "\\n", leaving out options whose text is one character or
         shorter (CMBDataset keeps len(text) > 1); the spaces around "\\n 答案: " are the config's: one before
         the newline, one after it, one ending the prompt.
         exam_type, exam_class and question_type come from the CMB record (converters/cmb.py keeps them in
         Example.meta, converters/build.py eval_item copies them into the item).
         OpenCompass generates at most 10 tokens (GenInferencer max_out_len=10) and reads the reply with
         multiple_select_postprocess: every capital letter in it, once each, sorted (`read_cmb`).
  medqa  opencompass/configs/datasets/MedQA/MedQA_gen_3bf756.py (QUERY_TEMPLATE, used for its US,
         Mainland = MCMLE and Taiwan test sets alike), the choices as opencompass/datasets/MedQA.py
         writes them ("A. text\\n" per option, the last one's newline kept):
             Answer the following multiple choice question. The last line of your response should be of
             the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of Options(e.g.
             one of ABCDEFGHIJKLMNOP). Think step by step before answering.\\n\\nQuestion:\\n\\n{question}
             \\n\\nOptions:\\n\\n{choices}
         (one line in the file; wrapped here). No max_out_len (the model's default); the reply is read with
         first_option_postprocess(options='ABCD') (`read_medqa`: its patterns in its order, some merged;
         see there).

What the preset does not change, and why:
  * how `make eval` reads the answer: evaluation/suites.py reads every choice reply with
    evaluation/metrics.extract_choice and offers no per-item reader, so the preset sets no item key for
    it. `read_answer` (OpenCompass's reading) is here for comparing the two readings on saved
    predictions. On bare letters ("B", "ACD", "A、C、D") and on reasoning that ends in "ANSWER: X" both read
    the same; they differ where a reply names two answers ("B or C. ANSWER: C": extract_choice reads it as
    invalid, OpenCompass takes C), names none ("A 45-year-old man ...": OpenCompass reads A), answers E on a
    5-option item (OpenCompass reads A, see read_medqa) or holds a stray capital (CMB: "B超" reads B there,
    nothing here).
  * the reply length: eval.max_tokens is one setting for every item (evaluation/runner.py); to match
    CMB's max_out_len=10, evaluate the CMB set alone with eval.max_tokens=10 (MedQA's reasoning needs
    the default or more).
  * log-likelihood scoring (eval.choice_scoring) scores the rewritten prompt, with its own answer cue
    appended (evaluation/loglikelihood.py); OpenCompass's CMB and MedQA configs only generate.

Run as (prints each rewritten prompt of a set):
    python -m evaluation.presets opencompass runs/quickstart/data/eval/cmb.jsonl
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from core.stage import command_status

PRESETS = ("opencompass",)  # core/recipe/schema.py EvalSection.prompt_preset lists the same names
OPENCOMPASS_COMMIT = "a5acc4bba3b658f151617a3b393602110fb7a740"

CMB_TEMPLATE = ("以下是中国{exam_type}中{exam_class}考试的一道{question_type}，不需要做任何分析和解释，"
                "直接输出答案选项。\n{question}\n{option_str} \n 答案: ")
CMB_MAX_OUT_LEN = 10  # tokens (documentation: eval.max_tokens is global)
MEDQA_TEMPLATE = ("Answer the following multiple choice question. The last line of your response should be of "
                  "the following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of Options(e.g. "
                  "one of ABCDEFGHIJKLMNOP). Think step by step before answering.\n\nQuestion:\n\n{question}\n\n"
                  "Options:\n\n{choices}")
MEDQA_LETTERS = "ABCD"  # the config's first_option_postprocess(options='ABCD'), for every subset


@dataclass
class Applied:
    items: list[dict]                                          # the items, rewritten copies where the preset applies
    rewritten: Counter = field(default_factory=Counter)        # format -> items rewritten
    kept: list[tuple[str, str]] = field(default_factory=list)  # (item id, why not) for known-format items kept


def cmb_prompt(item: dict) -> Optional[str]:
    """OpenCompass's CMB prompt for a CMB choice item; None when a field it needs is missing."""
    fields = {k: item.get(k) for k in ("exam_type", "exam_class", "question_type", "question")}
    if not all(isinstance(v, str) and v for v in fields.values()):
        return None
    option_str = "\n".join(f"{k}. {v}" for k, v in item["options"].items() if len(v) > 1)
    return CMB_TEMPLATE.format(option_str=option_str, **fields)


def medqa_prompt(item: dict) -> Optional[str]:
    """OpenCompass's MedQA prompt for a MedQA choice item; None without the bare question."""
    question = item.get("question")
    if not isinstance(question, str) or not question:
        return None
    choices = "".join(f"{k}. {v}\n" for k, v in item["options"].items())
    return MEDQA_TEMPLATE.format(question=question, choices=choices)


def _missing(fmt: str) -> str:
    needs = "exam_type, exam_class, question_type and question" if fmt == "cmb" else "question"
    return f"a {fmt} item without {needs} (rebuild the eval sets with `make data`)"


# preset -> item format -> prompt builder
PROMPTS: dict[str, dict[str, Callable[[dict], Optional[str]]]] = {
    "opencompass": {"cmb": cmb_prompt, "medqa": medqa_prompt}}


def apply(items: list[dict], preset: Optional[str]) -> Applied:
    """The items with the preset's prompts (new dicts; the given ones are not changed). No preset:
    the same items. An unknown name raises ValueError (the recipe schema rejects it first)."""
    if preset is None:
        return Applied(list(items))
    if preset not in PROMPTS:
        raise ValueError(f"eval.prompt_preset {preset!r} is not one of {', '.join(PRESETS)}")
    builders, out = PROMPTS[preset], Applied([])
    for item in items:
        build = builders.get(item.get("format"))
        if build is None or item.get("kind") != "choice":
            out.items.append(item)
            continue
        prompt = build(item)
        if prompt is None:
            out.kept.append((item["id"], _missing(item["format"])))
            out.items.append(item)
            continue
        out.items.append({**item, "prompt": prompt, "system": None})
        out.rewritten[item["format"]] += 1
    return out


def describe(preset: Optional[str], applied: Applied) -> str:
    """One line for the console: what the preset rewrote and what it kept."""
    done = ", ".join(f"{fmt} {n}" for fmt, n in sorted(applied.rewritten.items())) or "no items"
    line = f"prompt preset '{preset}' (OpenCompass {OPENCOMPASS_COMMIT[:7]}): rewrote {done}"
    if applied.kept:
        line += f"; kept {len(applied.kept)} as they were, e.g. {applied.kept[0][0]}: {applied.kept[0][1]}"
    return line


# --- OpenCompass's reading of the replies (not used by the scoring; see the module docstring) ---

def read_cmb(text: str) -> str:
    """multiple_select_postprocess: the reply's capital letters, each once, in alphabetical order
    ("B" -> "B", "A、C、D" -> "ACD"; note "CT" -> "CT": every capital counts, option or not)."""
    return "".join(sorted({c for c in text if c.isupper()}))


def _medqa_patterns(letters: str) -> list[str]:
    """first_option_postprocess's patterns, in its order, written shorter: neighbouring patterns of one
    family are merged (its 答案 phrasings into three, 只有选项X是错/不正确/错误 into one, X是正确的/
    是正确答案 into one, the end-of-reply ones, …X。 after 故/即/因此/是/为/显然, into one), so a reply
    with two different phrasings of one family may read differently. A missing comma in OpenCompass
    joins its '故选X' and '只有选项X是对' patterns into one that needs both in a row; that one is left out
    (neither reads alone there either)."""
    L = f"[{letters}]"
    return [rf"答案是?\s*({L})",                                                       # 答案X, 答案是X
            rf"答案是?\s*[：:]\s*({L})",                                               # 答案：X
            rf"答案(?:选项)?(?:应该?)?(?:是|为|选)?\s*[：:]?\s*\(?\*{{0,2}}({L})",         # 答案应该选X, 答案选项为X
            rf"选择?\s*({L})",                                                         # 选X, 选择X
            rf"只有选?项?\s?({L})\s?(?:是?错|不?正确|错误)",                                # 只有选项X是错的
            rf"说法(?:不?对|不?正确|错误)选?项?的?是\s?({L})",                               # 说法错误的是X
            rf"({L})\s?是正确(?:的|答案)", rf"选项\s?({L})\s?正确", rf"所以答\s?({L})",
            rf"(?:所以|所有)\s?({L}[.。$]?$)",                                            # 所以X (ending the reply)
            rf"(?:[\s，：:,]|[\s，,：:](?:[故即]|因此)|[是为。]\s?|(?:因此|显然)\s?)({L})[。，,.]?$",  # …X at the end
            r"答案(?:应该)?(?:是|为)\s?(\S+)(?:。|$)",                                   # 答案是<word>
            rf"(?i)ANSWER\s*:\s*({L})",                                               # ANSWER: X (the first)
            rf"[Tt]he (?:correct )?answer is(?: option)?:?\s+\(?\*{{0,2}}({L})",
            rf"[Tt]he correct (?:answer|option|answer option) is:?.*?boxed{{({L})}}",
            rf"[Tt]he answer to the question is:?\s+\(?({L})",
            rf"^选项\s?({L})", rf"^({L})\s?选?项",
            rf"(\s|^){L}[\s。，,：:.$]",   # a letter alone: its group is the space before it, so read at the start only
            r"1.\s?(.*?)$",               # the text after the first "1": its first option letter, if any
            rf"({L}):", rf"({L})"]         # the "cushion": the first option letter anywhere


def read_medqa(text: str, letters: str = MEDQA_LETTERS) -> str:
    """first_option_postprocess as MedQA_gen_3bf756.py calls it: the reply stripped; for each pattern in
    order, its first match anywhere; what its group caught (the whole match when the group caught
    nothing), and the first of `letters`, in the order of `letters`, found in it; a catch without one
    goes on to the next pattern; "" when none reads. With the config's letters ABCD an E is never read,
    on MedQA's 5-option sets too: "ANSWER: E" reads as A (the last pattern finds the A of ANSWER), as in
    OpenCompass."""
    text = text.strip()
    for pattern in _medqa_patterns(letters):
        found = re.search(pattern, text, re.DOTALL)
        if found:
            caught = found.group(1) or found.group(0)
            letter = next((c for c in letters if c in caught), None)
            if letter:
                return letter
    return ""


def read_answer(item: dict, text: str, preset: str = "opencompass") -> Optional[str]:
    """The letter(s) OpenCompass would read from `text` for a rewritten item ("" = none read); None for an
    item the preset does not rewrite."""
    if preset not in PROMPTS or item.get("kind") != "choice":
        return None
    if item.get("format") == "cmb":
        return read_cmb(text)
    if item.get("format") == "medqa":
        return read_medqa(text)
    return None


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in PRESETS:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    from evaluation.items import load
    items, rejects = load([Path(p) for p in argv[1:]])
    applied = apply(items, argv[0])
    for before, after in zip(items, applied.items):
        if after is not before:
            print(f"--- {after['id']} ({after['format']})\n{after['prompt']}")
    print(describe(argv[0], applied) + (f"; {len(rejects)} rejected line(s)" if rejects else ""))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
