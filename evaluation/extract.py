"""Read the answer out of a model's reply: option letters and yes/no/maybe.

Both extractors first normalise the reply (evaluation/textnorm.py): the head and tail of a
very long reply, control characters dropped, full-width ASCII made ASCII, markdown removed
("**答案**：C" and "### Final Answer\\n**E**" read as plain text).

extract_choice(text, options) -> "B" | "ABD" | None. Rules in order; the first that finds
letters wins. "Letters" are option letters joined by 、 , / & 和 及 与 and / "and" / ", and"
("A, B and D"); upper case always, lower case only where it cannot be an English word
(followed by punctuation, the end, or Chinese; or in brackets: "the answer is (b)").
  0. a LaTeX final answer: \\boxed{E}
  1. explicit statement, the LAST one (a reasoning ending "最终答案是C" counts as C):
       答案/正确答案/最终答案/参考答案/正确选项/我的选择/正确的是/正解/此题答/答：/【答】
       answer(s)/final answer/correct option/choice/response, then is/are/是/为/应为/选/:/option, then the letters;
       or the superlative the question asked for: 最可能的诊断是C  首选药物为B
       "the most likely diagnosis is C"  "the best next step is E".
       "The answer is not D; it is E" -> E (the letter after the negation's contrast);
       "答案是ABC，D和E不是…" -> ABC (a list cut where a clause denies its tail).
  2. choice verb, the LAST one not negated:  选B  应选用B  故选：C  首选B  I would choose E
       A verb right after 不/别/勿/禁/忌/避免/不宜/不应/如果/若 (or "not", "avoid") is skipped,
       so "不宜选用D美托洛尔，应选用B" -> B; "选项" is not a verb.
  3. letters judged correct (all of them):  B项正确  选项B正确  B是正确的  E is correct
       "(E) is the correct answer"  "diazepam (E) is preferred"  a line "B：正确" or "B …：✓"
  4. a conclusion:  所以是B  因此选B  综上，B  我觉得是B  In summary: E  I'd say C
  5. the whole reply is letters:  B  b  (B)  【B】  ABD  A、B、D  "A, B and D"  "Option E."
  6. the reply starts with letters and a separator:  "B. 钠-钾泵…"  "(B) …"  "B、…"  "B，…"
     "B 钠-钾泵" (a letter, a space, Chinese); "A patient…" is not an answer, nor is a reply
     whose lines list two or more options ("A. 单纯扩散\\nB. 钠-钾泵…": it restates the question)
  7. the last line is letters only  ("…\\n\\nB"), or the reply ends ": A, B, D."
  8. exactly one bracketed letter "(X)" in the reply
  9. the text of exactly one option appears in the reply, not right after a negation
     (spaces, punctuation and case ignored; an option whose text is part of a longer
     matched option does not count)
Letters are deduplicated and sorted ("DA" -> "AD"). None (an INVALID answer) when no
rule applies or a letter is not among the item's options.

extract_label(text) -> "yes" | "no" | "maybe" | None   (PubMedQA)
    1. explicit, the last one: "answer: yes", "The answer is **no**", "final decision: maybe",
       "my decision is: no", 答案：是/否/不确定, 结论：否
    2. the reply starts with the word: "Yes, ...", "No.", "Maybe ..." (是的/不是/否/不确定/不能确定)
    3. exactly one of yes/no/maybe occurs as a word in the reply
  else None.

Refusals: evaluation/refusal.py.
The labelled replies in tests/evaluation/data/choice_replies.yaml measure these rules: six of
its batches were first run blind (181 of 207 right), then kept; each rule added after a blind
batch is general (a phrase family), never the one reply.

Run as (reads replies, one per line, prints what was read; no options = yes/no/maybe):
    python -m evaluation.extract "A. 单纯扩散|B. 钠-钾泵的主动转运" < replies.txt
"""
from __future__ import annotations

import re
import sys
from typing import Mapping, Optional

from evaluation.refusal import is_refusal  # noqa: F401  (re-exported: older imports)
from evaluation.textnorm import normalise

def _letters(found: str, options: Mapping[str, str]) -> Optional[str]:
    found = re.sub(r"(?i)\band\b", " ", found)
    letters = sorted(set(re.findall(r"[A-Z]", found.upper())))
    if not letters or any(letter not in options for letter in letters):
        return None
    return "".join(letters)


# a lower-case letter counts only where it cannot start or be an English word
_LOWER_OK = re.compile(r"\s*(?:$|[^\sA-Za-z0-9]|[\u4e00-\u9fff])")


def _plausible(text: str, match: re.Match, group: int = 1) -> bool:
    found = match.group(group)
    if not re.search(r"[a-z]", found):
        return True
    before = text[max(0, match.start(group) - 1):match.start(group)]
    if before in ("(", "["):
        return True
    return bool(_LOWER_OK.match(text, match.end(group)))


class _Patterns:
    """The regular expressions of extract_choice for one set of option letters."""

    def __init__(self, keys: str):
        cls = f"[{keys}{keys.lower()}]"
        up = f"[{keys}]"
        sep = r"(?:\s*(?:[、,/&和及与]|,?\s*and)\s*|\s+)"  # between letters: A、B  A, B and D  A和C  A B
        one = rf"[(\[]?{cls}[)\]]?"
        self.letters = letters = rf"({one}(?:{sep}?{one})*)(?![A-Za-z0-9])"
        ups = rf"({up}(?:{sep}?{up})*)(?![A-Za-z0-9])"
        filler = (r"(?:\s*(?:to\s+(?:this|the)\s+question|is|are|would\s+be|should\s+be|will\s+be|definitely|clearly|most\s+likely|likely|"
                  r"probably|option|options|choice|应该是|应该选|应当是|应选|应是|应为|是|为|选项|选|:|=|-|—)\s*)*")
        self.explicit = re.compile(
            r"(?i:(?:正确|最佳|最终|参考|标准|我的|本题的?|该题的?)?的?答案|(?:正确|最佳|最终|我的|恰当)的?(?:选项|选择)|"
            r"正确的是|正确的一项是|正确的为|正解|(?:此|本|该|这)题(?:应)?答(?=\s*[(\[]?[A-Za-z](?![A-Za-z]))|"
            r"(?<![A-Za-z])(?:final\s+|correct\s+|best\s+|right\s+|my\s+)?answers?(?![A-Za-z])|"
            r"(?:correct|best|right|final)\s+(?:options?|choices?|responses?|one)|(?<![A-Za-z])correct(?=\s*:)|"
            r"(?<![\u4e00-\u9fff回])答(?=\s*[:】\]])|"
            # a superlative the question asked for: 最可能的诊断是C  首选药物为B  the most likely diagnosis is C
            r"(?:最|首选)[\u4e00-\u9fff的]{0,8}?(?:是|为)(?=\s*[(\[]?[A-Za-z](?![A-Za-z]))|"
            r"(?:most\s+(?:likely|appropriate|probable|accurate|suitable)|best|first-line|preferred)"
            r"(?:\s+[a-z-]+){0,4}?\s+(?:is|would\s+be)(?=\s*:?\s*[(\[]?[A-Z](?![A-Za-z])))"
            rf"(?i:{filler})[\s\[【】\]]*{letters}")
        self.contrast = re.compile(
            rf"(?i:答案|answer)\s*(?i:is\s+not|isn't|不是|并非)\s*{cls}[^\n]{{0,24}}?"
            rf"(?i:而是|应是|应为|but|rather|it\s+is|it's|instead)\s*(?i:option\s*)?{letters}")
        self.verb = re.compile(rf"(?:选用|选择|选取|首选|选(?!项|择|用|取))\s*:?\s*{letters}|"
                               rf"(?i:(?<![A-Za-z])(?:choose|select|pick|go\s+with|opt\s+for)\s+(?:option\s+)?){letters}")
        self.judged = re.compile(
            rf"(?:选项|(?i:option)\s*)?[(\[]?({up})[)\]]?\s*(?:项|选项)?\s*(?:是|为)?\s*(?:正确|对的|最佳|最合适|最恰当|"
            rf"符合题意|对(?![应于照比待象称症]))|(?i:options?\s*)?[(\[]?{ups}[)\]]?\s+(?i:is|are|would\s+be|seems\s+to\s+be|appears\s+to\s+be)\s+(?i:the\s+)?"
            rf"(?i:correct|right|best|preferred|most\s+appropriate|most\s+likely|treatment\s+of\s+choice|first-line)"
            rf"(?![A-Za-z])")
        self.judged_line = re.compile(rf"^[(\[]?({up})[)\]]?[^\n]{{0,60}}?(?:[:：]\s*(?:正确|对)(?!的是)|[✓✔√]|"
                                      rf"[(（]正确[)）]|(?<!不)正确[。.]?$)", re.MULTILINE)
        self.conclusion = re.compile(rf"(?:所以|因此|故|综上所述|综上|因而|我觉得|我认为|我猜|我想|只有|剩下|只剩下?|"
                                     rf"(?i:in\s+summary|in\s+conclusion|to\s+summari[sz]e|overall|I'?d\s+say|"
                                     rf"I\s+would\s+say|I\s+think(?:\s+it'?s)?|I\s+believe(?:\s+it'?s)?|"
                                     rf"I'?ll\s+go\s+with))[,，:\s]*(?:本题|这道题|该题)?(?:应该|应当|应)?"
                                     rf"(?:是|为|选)?\s*{ups}")
        self.whole = re.compile(rf"^[\W_]*(?:(?i:option|choice)\s+|选项\s*)?{letters}[\W_]*$")
        self.leading = re.compile(rf"^[\s(\[【]*({up}+)(?:项|选项)?(?:[.、:)\]】。,，\-—]|\s*$|\s+(?=[\u4e00-\u9fff]))|"
                                  rf"^[\s(\[]*({cls})[.)\]](?:\s|$)")
        self.bracketed = re.compile(rf"[(\[]\s*({cls})\s*[)\]]")
        # LaTeX-style final answers of maths-trained models: \boxed{E}, \boxed{\text{E}}
        self.boxed = re.compile(rf"\\boxed\s*\{{\s*(?:\\text(?:bf)?\s*\{{)?\s*{letters}\s*\}}?\s*\}}")
        self.tail = re.compile(rf"[:：]\s*{letters}[\W_]*$")


_NEGATED = re.compile(r"(?:不|别|勿|禁|忌|避免|如果|若|假如|要是|\bnot|n't|\bavoid|\bnever)\s*(?:宜|应|该|能|要|可|得)?\s*"
                      r"(?:\w{0,4}\s*)?$", re.IGNORECASE)


def _last_plausible(pattern: re.Pattern, text: str, negatable: bool = False) -> Optional[re.Match]:
    found = None
    for hit in pattern.finditer(text):
        group = next(i for i in range(1, (pattern.groups or 1) + 1) if hit.group(i) is not None)
        if not _plausible(text, hit, group):
            continue
        if negatable and _NEGATED.search(text[max(0, hit.start() - 6):hit.start()]):
            continue
        found = hit
    return found


_DENIAL = re.compile(r"\s*(?:都|均|也|则)?(?:不是|不对|不正确|错误|错|不符合|(?i:is|are)\s+(?:not|incorrect|wrong))")


def _unless_denied(text: str, hit: re.Match) -> str:
    """The letters of `hit`, without the trailing ones a clause denies: "答案是ABC，D和E不是…" -> ABC."""
    found = hit.group(1)
    if not _DENIAL.match(text, hit.end(1)):
        return found
    parts = re.split(r"[，,；;]", found)  # "ABC，D和E": the answer ends where a new clause starts
    return parts[0] if len(parts) > 1 else found


def _group(hit: re.Match) -> str:
    return next(g for g in hit.groups() if g is not None)


def _squash(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text).lower()


def _option_text(norm: str, options: Mapping[str, str]) -> Optional[str]:
    squashed = _squash(norm)
    matched = {}
    for key, value in options.items():
        target = _squash(normalise(value))
        if len(target) < 2:
            continue
        positions = [m.start() for m in re.finditer(re.escape(target), squashed)]
        # an option named only right after a negation (不宜选用D美托洛尔) is not chosen
        if any(not _NEGATED.search(squashed[max(0, p - 6):p]) for p in positions):
            matched[key] = target
    matched = {k: v for k, v in matched.items() if not any(v != w and v in w for w in matched.values())}
    return next(iter(matched)) if len(matched) == 1 else None


def extract_choice(text: Optional[str], options: Mapping[str, str]) -> Optional[str]:
    """The chosen option letter(s), sorted, or None when the reply gives no valid choice."""
    norm = normalise(text)
    if not norm or not options:
        return None
    keys = "".join(sorted(k.upper() for k in options))
    pats = _Patterns(keys)
    for name in ("boxed", "contrast", "explicit"):
        hit = _last_plausible(getattr(pats, name), norm)
        if hit:
            return _letters(_unless_denied(norm, hit), options)
    hit = _last_plausible(pats.verb, norm, negatable=True)
    if hit:
        return _letters(_group(hit), options)
    judged = [_group(h) for h in pats.judged.finditer(norm)] + [h.group(1) for h in pats.judged_line.finditer(norm)]
    if judged:
        return _letters("".join(judged), options)
    hit = _last_plausible(pats.conclusion, norm)
    if hit:
        return _letters(_unless_denied(norm, hit), options)
    hit = pats.whole.match(norm)
    if hit and _plausible(norm, hit):
        return _letters(hit.group(1), options)
    listing = len(set(re.findall(rf"^[(\[]?([{keys}])[.、:)\]]", norm, re.MULTILINE))) >= 2
    hit = None if listing else pats.leading.match(norm)  # a reply that only lists the options chose none
    if hit:
        return _letters(_group(hit), options)
    last_line = norm.rsplit("\n", 1)[-1]
    hit = pats.whole.match(last_line) if "\n" in norm else None
    if hit and _plausible(last_line, hit):
        return _letters(hit.group(1), options)
    hit = pats.tail.search(norm)
    if hit and _plausible(norm, hit):
        return _letters(hit.group(1), options)
    bracketed = {m.group(1).upper() for m in pats.bracketed.finditer(norm)}
    if len(bracketed) == 1:
        return _letters(bracketed.pop(), options)
    return _option_text(norm, options)


LABELS = ("yes", "no", "maybe")
_LABEL_WORDS = {"yes": "yes", "no": "no", "maybe": "maybe", "是": "yes", "是的": "yes", "否": "no",
                "不是": "no", "不确定": "maybe", "可能": "maybe", "不能确定": "maybe", "无法确定": "maybe",
                "尚不确定": "maybe", "不一定": "maybe"}
_LABEL_EXPLICIT = re.compile(r"(?:final decision|final answer|answer|decision|答案|结论)"
                             r"(?:\s*(?:is|would be|:|是|为|\n))+\s*[(\[]?\s*"
                             r"(yes|no|maybe|不能确定|无法确定|尚不确定|不一定|不确定|是的|不是|是|否|可能)(?![a-z])", re.IGNORECASE)
_LABEL_LEADING = re.compile(r"^[\W_]*(yes|no|maybe)(?![a-z])|^[\W_]*(是的|不是|否|不能确定|无法确定|尚不确定|不一定|不确定|是(?=[\W_]*$|[，。,.！!]))",
                            re.IGNORECASE)


def extract_label(text: Optional[str]) -> Optional[str]:
    """yes / no / maybe, or None when the reply commits to none (or to several)."""
    norm = normalise(text)
    if not norm:
        return None
    hits = list(_LABEL_EXPLICIT.finditer(norm))
    if hits:
        return _LABEL_WORDS[hits[-1].group(1).lower()]
    hit = _LABEL_LEADING.match(norm)
    if hit:
        return _LABEL_WORDS[(hit.group(1) or hit.group(2)).lower()]
    found = {w.lower() for w in re.findall(r"\b(yes|no|maybe)\b", norm, re.IGNORECASE)}
    return found.pop() if len(found) == 1 else None


def main(argv: list[str]) -> int:
    options = dict(o.split(". ", 1) for o in argv[0].split("|")) if argv else {}
    for line in sys.stdin:
        reply = line.rstrip("\n").replace("\\n", "\n")
        print(f"{extract_choice(reply, options) if options else extract_label(reply)!s:6s} <- {reply[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
