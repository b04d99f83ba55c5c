"""Read the answer out of a model's reply: option letters, yes/no/maybe, refusals.

extract_choice(text, options) -> "B" | "ABD" | None
  The text is first normalised (full-width letters and brackets to ASCII). Rules, in
  order; the first that finds letters wins:
    1. an explicit statement, the LAST one when there are several (a reasoning that
       ends "所以答案是C" counts as C):  答案：B  正确答案是B  答案为 (B)  最佳答案：A、D  【答案】B
       The answer is B   Answer: (C)   -- the keyword, then 是/为/应为/选/is/:/(, then letters
       (upper case: "the answer is a combination" names no option)
    2. a choice verb:  选B  应选B  故选：C  选择D  选项B  (not after 不/别: "不选A" is no answer);
       or "B项正确" / "B选项正确" / "B是正确的"
    3. the whole reply is letters:  B   B.   (B)   【B】  ABD   A、B、D   "A, C"
    4. the reply starts with letters and a separator:  "B. 钠-钾泵…"  "(B) …"  "B、…"  "ABD。…"  "B，…"
       "B 钠-钾泵" (a letter, a space, Chinese); "A patient…" is not an answer
    5. exactly one "(X)" / "（X）" anywhere in the reply
    6. the text of exactly one option appears in the reply (after normalising spaces and
       width; an option whose text is part of a longer matched option does not count)
  Letters are deduplicated and sorted ("DA" -> "AD"). None (an INVALID answer) when no
  rule applies or a letter is not among the item's options.

extract_label(text) -> "yes" | "no" | "maybe" | None   (PubMedQA)
    1. explicit: "answer: yes", "The answer is no", "final decision: maybe", 答案：是/否/不确定
    2. the reply starts with the word: "Yes, ...", "No.", "Maybe ..." (是的/不是/否/不确定)
    3. exactly one of yes/no/maybe occurs as a word in the reply
  else None.

is_refusal(text): the reply declines to answer. REFUSAL_MARKERS, matched as substrings
(lower-cased for English): 无法回答 不能回答 只能回答 无法提供 不便回答 超出了我的 不在我的
…范围 不属于医疗 无法根据参考资料回答 … / can't answer, cannot answer, unable to answer,
can only answer, outside the scope, not able to help with. "抱歉" alone is not a refusal
(a medical answer may begin "抱歉听到您不舒服").

Run as (reads replies, one per line, prints what each rule found):
    python -m evaluation.extract "A. 单纯扩散|B. 钠-钾泵的主动转运" < replies.txt
"""
from __future__ import annotations

import re
import sys
from typing import Mapping, Optional

_WIDTH = str.maketrans({**{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
                        **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
                        "（": "(", "）": ")", "：": ":", "，": ",", "．": ".", "　": " ", "［": "[", "］": "]"})
_SEP = r"(?:\s*[、,/&和及与]\s*|\s+)?"  # between letters of a multiple answer: A、B  A,D  A和C  A B


def _letters(found: str, options: Mapping[str, str]) -> Optional[str]:
    letters = sorted(set(re.findall(r"[A-Z]", found.upper())))
    if not letters or any(letter not in options for letter in letters):
        return None
    return "".join(letters)


def _squash(text: str) -> str:
    return re.sub(r"[\s。.,，;；!！]+", "", text.translate(_WIDTH)).lower()


def _patterns(keys: str) -> dict[str, re.Pattern]:
    cls = f"[{keys}]"
    letters = f"{cls}(?:{_SEP}{cls})*"
    filler = r"(?:\s*(?:is|应该是|应该选|应当是|应选|应是|应为|是|为|选|:|选项)\s*)*"
    return {  # letters are upper case only: "the answer is a combination" names no option
        "explicit": re.compile(r"(?i:正确答案|最佳答案|参考答案|最终答案|答案|正确选项|final answer|answer)"
                               rf"(?i:{filler})[\s(\[【】\]]*({letters})(?![A-Za-z])"),
        "verb": re.compile(rf"(?<![不别勿])(?:选择|选项|选)\s*:?\s*[(\[【]?\s*({letters})(?![A-Za-z])"),
        "letter_first": re.compile(rf"(?<![A-Za-z])({letters})\s*(?:选项|项)?\s*(?:是|为)?(?:正确|对的|最佳|最合适)"),
        "whole": re.compile(rf"^[\W_]*({letters})[\W_]*$"),
        "leading": re.compile(rf"^[\s(\[【*]*({cls}+)(?:[.、:)\]】。,]|\s*$|\s+(?=[\u4e00-\u9fff]))"),
        "bracketed": re.compile(rf"[(\[]\s*({cls})\s*[)\]]"),
    }


def extract_choice(text: Optional[str], options: Mapping[str, str]) -> Optional[str]:
    """The chosen option letter(s), sorted, or None when the reply gives no valid choice."""
    if not text or not options:
        return None
    norm = text.translate(_WIDTH).strip()
    keys = "".join(sorted(k.upper() for k in options))
    pats = _patterns(keys)
    hits = list(pats["explicit"].finditer(norm))
    if hits:
        return _letters(hits[-1].group(1), options)
    for name in ("verb", "letter_first"):
        hit = pats[name].search(norm)
        if hit:
            return _letters(hit.group(1), options)
    for name in ("whole", "leading"):
        hit = pats[name].match(norm)
        if hit:
            return _letters(hit.group(1), options)
    bracketed = {m.group(1) for m in pats["bracketed"].finditer(norm)}
    if len(bracketed) == 1:
        return _letters(bracketed.pop(), options)
    squashed = _squash(norm)
    matched = {k: _squash(v) for k, v in options.items() if len(_squash(v)) >= 2 and _squash(v) in squashed}
    matched = {k: v for k, v in matched.items() if not any(v != w and v in w for w in matched.values())}
    if len(matched) == 1:
        return _letters(next(iter(matched)), options)
    return None


LABELS = ("yes", "no", "maybe")
_LABEL_WORDS = {"yes": "yes", "no": "no", "maybe": "maybe", "是": "yes", "是的": "yes", "否": "no",
                "不是": "no", "不确定": "maybe", "可能": "maybe"}
_LABEL_EXPLICIT = re.compile(r"(?:final decision|final answer|answer|decision|答案|结论)\s*(?:is|:|是|为)\s*:?"
                             r"\s*\**\s*(yes|no|maybe|不确定|是的|不是|是|否|可能)(?![a-z])", re.IGNORECASE)
_LABEL_LEADING = re.compile(r"^[\W_]*(yes|no|maybe)(?![a-z])|^[\W_]*(是的|不是|否|不确定)", re.IGNORECASE)


def extract_label(text: Optional[str]) -> Optional[str]:
    """yes / no / maybe, or None when the reply commits to none (or to several)."""
    if not text:
        return None
    norm = text.translate(_WIDTH).strip()
    hits = list(_LABEL_EXPLICIT.finditer(norm))
    if hits:
        return _LABEL_WORDS[hits[-1].group(1).lower()]
    hit = _LABEL_LEADING.match(norm)
    if hit:
        return _LABEL_WORDS[(hit.group(1) or hit.group(2)).lower()]
    found = {w.lower() for w in re.findall(r"\b(yes|no|maybe)\b", norm, re.IGNORECASE)}
    return found.pop() if len(found) == 1 else None


REFUSAL_MARKERS = ("无法回答", "不能回答", "只能回答", "无法提供", "不便回答", "无法为您解答", "不能为您解答",
                   "超出了我的", "超出我的", "不在我的", "不属于医疗", "与医疗无关", "与医学无关", "与健康无关",
                   "无法根据参考资料回答", "无法根据提供的资料",
                   "can't answer", "cannot answer", "can not answer", "unable to answer", "can only answer",
                   "outside the scope", "outside my scope", "not able to help with")


def is_refusal(text: Optional[str]) -> bool:
    low = (text or "").lower()
    return any(marker in low for marker in REFUSAL_MARKERS)


def main(argv: list[str]) -> int:
    options = dict(o.split(". ", 1) for o in argv[0].split("|")) if argv else {}
    for line in sys.stdin:
        reply = line.rstrip("\n")
        print(f"{extract_choice(reply, options) if options else extract_label(reply)!s:6s} <- {reply[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
