"""Read the answer out of a model's reply: option letters and yes/no/maybe.

Both extractors first normalise the reply (evaluation/textnorm.py): only the text after a reasoning block
(</think>) counts and a reply cut off inside one has none; the head and tail of a very long reply, control
characters dropped, full-width ASCII made ASCII, markdown removed ("**答案**：C" and "### Final Answer\\n**E**"
read as plain text).

extract_choice(text, options) -> "B" | "ABD" | None. "Letters" are option letters joined by 、 , / & 和 及 与
and / "and" / ", and" ("A, B and D"); upper case always, lower case only where it cannot be an English word
(followed by punctuation, the end, or Chinese; or in brackets: "the answer is (b)").
  JSON: the last answer field decides: {"answer": "C"}  {"final_answer": "E"}  {"答案": "B"}  {"answer": ["A", "B"]}
     ({"answer": ""}: None); its value is read by these same rules ("B. 阿替普酶…", "Graves disease").
  Statements, read together (rules 0, 1, 2, 4 and an option's text after an answer phrase):
  0. a LaTeX final answer: \\boxed{E}
  1. explicit statement:
       答案/正确答案/最终答案/参考答案/正确选项/我的选择/正确的是/正解/此题答/答：/【答】
       answer(s)/final answer/correct option/choice/response/letter/my pick/my vote, then
       is/are/是/为/应为/选/:/→/here/goes to/option, then the letters;
       "The answer is not D; it is E" -> E (the letter after the negation's contrast);
       "答案是ABC，D和E不是…" -> ABC (a list cut where a clause denies its tail).
  2. choice verb, not negated:  选B  应选用B  故选：C  首选B  I would choose E  going with D  settling on D
       I'd lean toward A  I'd recommend option D. A verb right after 不/别/勿/禁/忌/避免/不宜/不应/如果/若
       (or "not", "avoid") is skipped, so is one whose subject is someone else (很多同学会选C, 容易误选A,
       "many students pick D"); "选项" is not a verb.
  4. a conclusion:  所以是B  因此选B  综上，B  即B  即选项B  我觉得是B  In summary: E  I'd say C
       I'm going to say D  that leaves us with A  "…, so D."; not 立即B超 (a letter that starts a word).
  +  an answer phrase or a choice verb followed by an option's text: 答案是阿替普酶静脉溶栓  选肝素抗凝
       "the correct answer is intravenous normal saline"  "the answers are jaundice, dark urine and pale
       stools" (-> ABC); the text ends at a clause end or a contrast (而非/而不是/rather than/not), and a
       distinctive part of one option counts ("the answer is normal saline", 答案：阿替普酶).
     The statements after the last change of mind (不对, 错了, 再想, 等等, wait, actually, on reflection,
     "C? No.") must agree: "答案：B … 综上所述，本题答案为C" and "答案：C … 因此选A" are two answers: None.
     A hedge is no answer either: letters that go on "or D" / 或C / "(or possibly D)" (答案是B或C, "I would
     choose A or D"), and a last statement "between A and D" / "either A or D" / 也可能是B / "both A and D
     are plausible" / B或C (not "B或C都不对").
  1b. when no statement is made: a superlative the question asked for, the LAST one: 最可能的诊断是C
       首选药物为B  "the most likely diagnosis is C"  "Most likely diagnosis: C"  "the best next step is E".
  3. letters judged correct (all of them):  B项正确  选项B正确  B是正确的  E is correct  A looks right
       "(E) is the correct answer"  "diazepam (E) is preferred"  "Option A fits best"  "D it is"  a line
       "B：正确" or "B …：✓"; a per-option verdict list or table in which at least two options are judged
       ("| B | 正确 |", "A ❌ B ✅ C ❌", "D. … — yes", "A) True"): the options judged right; an option's
       text judged right: "Intravenous normal saline is the first step", 氨氯地平是首选
  3b. all chosen: 全选  都选  以上都是  以上四项均正确  "all of the above"  "all of the options are correct":
       the option that says "以上都是" / "all of the above" if there is one, else every option
  5. the whole reply is letters:  B  b  (B)  【B】  ABD  A、B、D  "A, B and D"  "Option E."
  6. the reply starts with letters and a separator:  "B. 钠-钾泵…"  "(B) …"  "B、…"  "B，…"
     "B 钠-钾泵" (a letter, a space, Chinese); "A patient…" is not an answer, nor is a reply
     whose lines list two or more options ("A. 单纯扩散\\nB. 钠-钾泵…": it restates the question), nor a
     leading letter its own sentence judges wrong ("E. Factitious thyrotoxicosis is unlikely because…")
  7. the last line is letters only  ("…\\n\\nB"), or the reply ends ": A, B, D."
  A reply cut off mid-reasoning stops here (None): it ends without closing punctuation after a finished
  sentence, or on a dangling word ("… and", "…的", "… restriction (E) is"), and its last line is not an
  option's text alone. An option named in passing in unfinished reasoning is no answer.
  8. exactly one bracketed letter "(X)" in the reply
  9. the text of exactly one option appears in the reply, not right after a negation (不宜, not, rather
     than, 而非) nor followed by a verdict against it ("… would be harmful", 降压至正常不推荐, "is unlikely")
     (spaces, punctuation and case ignored; an option whose text is part of a longer matched option
     does not count)
Letters are deduplicated and sorted ("DA" -> "AD"). None (an INVALID answer) when no
rule applies or a letter is not among the item's options.

extract_label(text) -> "yes" | "no" | "maybe" | None   (PubMedQA)
    0. JSON: {"answer": "yes"}  {"final_decision": "maybe"}  {"decision": "no"}  {"答案": "是"}
    1. statements, read together as for letters (the ones after the last change of mind must agree, and
       the last may not be a hedge "yes or maybe"):
       explicit: "answer: yes", "The answer is **no**", "final decision: maybe", "my decision is: no",
       答案：是/否/不确定, 结论：否;
       a conclusion whose label ends its clause: "so overall, no."  "on balance: maybe"  "I'd say maybe"
       "Actually, yes: …"  "in the end, no"  因此是。  所以应该是：是。  我认为不能确定。  结论不确定
       ("…, so no further trials were needed" is no conclusion);
       the reply ends on the label alone: "…. Maybe."  "…, make it clear: yes."
       so a first word the reply takes back ("Yes, … However, …, so the answer is no.") is not read.
    2. the reply starts with the word: "Yes, ...", "No.", "Maybe ..." (是的/不是/否/不确定/不能确定)
    3. exactly one of yes/no/maybe occurs as a word in the reply
  else None.

Refusals and "the sources do not say": evaluation/refusal.py.
The labelled replies in tests/evaluation/data/choice_replies.yaml measure these rules: six of
its batches were first run blind (181 of 207 right), then kept; each rule added after a blind
batch is general (a phrase family), never the one reply. tests/evaluation/data/choice_families.yaml
holds a blind batch per family issue 24 listed: 72 of 174 right blind (reasoning blocks 10 of 18, cut off
mid-reasoning 10 of 19, conflicting answers and hedges 9 of 21, JSON 8 of 19, verdict lists and tables
5 of 19, 即/全选/以上都是 13 of 21, an answer phrase then an option's text 5 of 18, English paraphrases
6 of 20, yes/no/maybe taken back 6 of 19); after the rules above, a second batch per family written
afterwards was 67 of 74 right blind. All are kept; each batch is held to >= 95%.

Run as (reads replies, one per line, prints what was read; no options = yes/no/maybe):
    python -m evaluation.extract "A. 单纯扩散|B. 钠-钾泵的主动转运" < replies.txt
"""
from __future__ import annotations

import re
import sys
from typing import Mapping, NamedTuple, Optional

from evaluation.refusal import is_refusal  # noqa: F401  (re-exported: older imports)
from core.stage import command_status
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


# the phrases that state the answer (rule 1): 答案是  正确选项  the correct answer is  my pick
_ANSWER_WORDS = (
    r"(?:正确|最佳|最终|参考|标准|我的|本题的?|该题的?)?的?答案|(?:正确|最佳|最终|我的|恰当)的?(?:选项|选择)|"
    r"正确的是|正确的一项是|正确的为|正解|(?:此|本|该|这)题(?:应)?答(?=\s*[(\[]?[A-Za-z](?![A-Za-z]))|"
    r"(?<![A-Za-z])(?:final\s+|correct\s+|best\s+|right\s+|my\s+)?answers?(?![A-Za-z])|"
    r"(?:correct|best|right|final)\s+(?:options?|choices?|responses?|one|letter)|(?<![A-Za-z])correct(?=\s*:)|"
    r"(?<![A-Za-z])my\s+(?:final\s+)?(?:pick|choice|selection|vote)|"
    r"(?<![\u4e00-\u9fff回])答(?=\s*[:】\]])")
# a superlative the question asked for: 最可能的诊断是C  首选药物为B  the most likely diagnosis is C
_SUPERLATIVE_ZH = r"(?:最|首选)[\u4e00-\u9fff的]{0,8}?(?:是|为)"
_SUPERLATIVE_EN = (r"(?:most\s+(?:likely|appropriate|probable|accurate|suitable)|best|first-line|preferred)"
                   r"(?:\s+[a-z-]+){0,4}?(?:\s+(?:is|would\s+be)|\s*:)")
# what may stand between such a phrase and the letters: 答案应为B  the answer here would be E  Correct option → D
_FILLER = (r"(?:\s*(?:to\s+(?:this|the)\s+question|here|in\s+this\s+case|is|are|would\s+be|should\s+be|will\s+be|definitely|"
           r"clearly|most\s+likely|likely|probably|option|options|choice|应该是|应该选|应当是|应选|应是|应为|是|为|选项|选|"
           r"goes\s+to|:|=|-|—|→|->|=>)\s*)*")
# choice verbs (rule 2): 选B  应选用B  首选B  I would choose E  going with D  settling on D  I'd recommend option D
_VERB_ZH = r"(?:选用|选择|选取|首选|选(?!项|择|用|取))\s*:?\s*"
_VERB_EN = (r"(?<![A-Za-z])(?:choos(?:e|ing)|select(?:ing)?|pick(?:ing)?|go(?:ing)?\s+with|opt(?:ing)?\s+for|"
            r"settl(?:e|ing)\s+on|lean(?:ing)?\s+towards?|recommend(?:ing)?)\s+(?:option\s+)?")
# a conclusion (rule 4): 所以是B  即B  综上，B  I'd say C  that leaves A
_CONCLUSION = (r"(?:所以|因此|故|综上所述|综上|因而|我觉得|我认为|我猜|我想|只有|剩下|只剩下?|(?<![立随当亦])即|"
               r"(?i:in\s+summary|in\s+conclusion|to\s+summari[sz]e|overall|I'?d\s+say|I\s+would\s+say|"
               r"I'?m\s+going\s+to\s+say|I'?ll\s+say|I\s+will\s+say|I\s+think(?:\s+it'?s)?|I\s+believe(?:\s+it'?s)?|"
               r"I'?ll\s+go\s+with|(?:that|which)\s+leaves(?:\s+us)?(?:\s+with)?|leaving(?:\s+us\s+with)?))")
# a letter read from a conclusion is no word: 即B  but not 立即B超, 即A型
_NOT_A_WORD = r"(?![\u4e00-\u9fff](?<![项选对是为正错吧啊呀呢了的和与及或]))"
# a change of mind: the statements after the last one are the reply's answer
_REVISION = re.compile(r"不对|错了|更正|纠正|修正|重新(?:考虑|思考|想|看|审视|分析|检查)|再想|再看|再考虑|仔细(?:看|想|考虑|检查)|"
                       r"等等|等一下|(?i:\bwait\b|\bactually\b|on\s+(?:second|further)\s+thought|on\s+reflection|"
                       r"\bcorrection\b|\breconsider|\bre-?read|\bI\s+was\s+wrong|let\s+me\s+(?:re|double[- ]check)|"
                       # a question answered "No.": "The answer is C? No. The answer is D."
                       r"[?？]\s*no(?:pe)?\b)")
# a JSON answer: {"answer": "C"}  {'final_answer': 'E'}  {"答案": "B"}  {"answer": ["A", "B"]}
_JSON_CHOICE = re.compile(r"""["'](?:final[_ ]?answers?|answers?|correct[_ ]?(?:answer|option|choice)s?|"""
                          r"""selected[_ ]?(?:answer|option|choice)s?|choices?|options?|答案|最终答案|正确答案|选项|选择)["']"""
                          r"""\s*:\s*(\[[^\]]*\]|"[^"]*"|'[^']*')""", re.IGNORECASE)
# an option whose text says "all of the above", and a reply that says all are chosen
_ALL_OPTION = re.compile(r"^(?:以上|上述)(?:选项|各项)?(?:都|均|皆|全)(?:是|对|正确)$|^(?i:all\s+(?:of\s+)?the\s+above)$")
_ALL_CHOSEN = re.compile(
    r"(?<![不非])(?:全选|都选|全部(?:都)?选|全都选|"
    r"(?:以上|上述|所有)(?:选项|各项|[四五三]项)?(?:都|均|皆|全)(?:是|对|正确|选)(?=\s*(?:[。.!！,，;；]|$))|"
    r"(?<!\bnot\s)(?<!\bNot\s)(?i:all\s+(?:of\s+)?the\s+above|"
    r"all\s+(?:of\s+the\s+)?(?:options|choices|answers|three|four|five)(?:\s+options)?\s+(?:are|is)\s+(?:correct|right|true)))")
# a reply's own line that ends mid-sentence: cut off (eval.max_tokens) before it answered
_CLOSED_END = re.compile(r"[。.!?！？…;；)）\]】」』\"”'’✓✔√✅❌✗✘×~]\s*$")
# …or it ends on a word no sentence ends on: "… since insulin drives potassium into cells and"  "…主要用于"
_DANGLING = re.compile(r"(?i:\b(?:and|or|but|the|a|an|of|to|in|on|for|with|by|from|since|because|as|that|which|whereas|"
                       r"while|than|is|are|was|were|be|would|should|can|could|will|not|so|then|if|until|after|before)"
                       r"|[,，:：、—-])\s*$|(?:的|和|与|及|或|是|在|为|把|被|对|从|而|但|但是|所以|因此|如果|由于|因为|用于|应|需|则)\s*$")
_SENTENCE_END = re.compile(r"[。!?！？；;\n]|\.(?=\s)")
# a leading letter whose own sentence judges it wrong is no answer: "E. Factitious … is unlikely because …"
_LEADING_DENIED = re.compile(r"(?i:\b(?:is|are|seems|would\s+be)\s+(?:unlikely|wrong|incorrect|not\b|less\s+likely)|"
                             r"\bisn'?t\b|\bunlikely\b|\bruled\s+out\b|\bexcluded\b)|不正确|错误|不对|排除|不是|不太可能|不符合|不选")
# per-option verdicts (rule 3): a line / table row / list item per option with a mark or a verdict word
_POS_MARKS, _NEG_MARKS = "✓✔√✅", "✗✘×❌"
_VERDICT_NEG = re.compile(r"^(?:不正确|不对|不符合|不是|不选|错误|错|排除|否|[✗✘×❌]|"
                          r"(?i:incorrect|wrong|false|no|not|excluded|ruled\s+out)\b)")
_VERDICT_POS = re.compile(r"^(?:正确|对|是|符合|保留|[✓✔√✅]|(?i:correct|right|true|yes))[\W_]*$")
_CELL_SEP = re.compile(r"\s*(?:\||:|：|—+|–|\s-\s|->|→|=>|,|，|;|；|。)\s*")
# an answer stated as an option's text ends at a clause end or a contrast: 答案是X，而非Y  the answer is X rather than Y
_TEXT_END = re.compile(r"[。;；\n(（\[【]|[.!?！？](?=\s|$)|而(?:非|不是)|不是|并非|因为|由于|但|"
                       r"(?i:\b(?:rather\s+than|instead\s+of|not|but|because|since|as|over|which|given)\b)")
_TEXT_ITEMS = re.compile(r"\s*(?:,\s*(?:and|or)?|、|\band\b|\bor\b|和|及|与|以及|或者?|还是)\s*", re.IGNORECASE)
_TEXT_HEDGE = re.compile(r"(?i:\bor\b)|或者?|还是")
_ARTICLE = re.compile(r"^(?i:the|a|an|to\s+give|to\s+start|giving|starting)\s+")


class _Patterns:
    """The regular expressions of extract_choice for one set of option letters."""

    def __init__(self, keys: str):
        cls = f"[{keys}{keys.lower()}]"
        up = f"[{keys}]"
        sep = r"(?:\s*(?:[、,/&和及与]|,?\s*and)\s*|\s+)"  # between letters: A、B  A, B and D  A和C  A B
        one = rf"[(\[]?{cls}[)\]]?"
        self.letters = letters = rf"({one}(?:{sep}?{one})*)(?![A-Za-z0-9])"
        ups = rf"({up}(?:{sep}?{up})*)(?![A-Za-z0-9])"
        gap = r"[\s\[【】\]]*"
        self.answer = re.compile(rf"(?i:{_ANSWER_WORDS})(?i:{_FILLER}){gap}{letters}")
        self.superlative = re.compile(
            rf"(?:{_SUPERLATIVE_ZH}(?=\s*[(\[]?[A-Za-z](?![A-Za-z]))|"
            rf"(?i:{_SUPERLATIVE_EN})(?=\s*:?\s*[(\[]?[A-Z](?![A-Za-z])))(?i:{_FILLER}){gap}{letters}")
        self.contrast = re.compile(
            rf"(?i:答案|answer)\s*(?i:is\s+not|isn't|不是|并非)\s*{cls}[^\n]{{0,24}}?"
            rf"(?i:而是|应是|应为|but|rather|it\s+is|it's|instead)\s*(?i:option\s*)?{letters}")
        self.verb = re.compile(rf"{_VERB_ZH}{letters}|(?i:{_VERB_EN}){letters}")
        # the same phrases followed by an option's text instead of letters
        self.answer_head = re.compile(rf"(?i:{_ANSWER_WORDS}|{_SUPERLATIVE_ZH}|{_SUPERLATIVE_EN})"
                                      rf"(?i:{_FILLER})[\s\[【】\]\"']*")
        self.verb_head = re.compile(rf"{_VERB_ZH}|(?i:{_VERB_EN})")
        self.judged = re.compile(
            rf"(?:选项|(?i:option)\s*)?[(\[]?({up})[)\]]?\s*(?:项|选项)?\s*(?:是|为)?\s*(?:正确|对的|最佳|最合适|最恰当|"
            rf"符合题意|对(?![应于照比待象称症]))|"
            rf"(?i:options?\s*)?[(\[]?{ups}[)\]]?\s+"
            rf"(?i:is|are|would\s+be|seems(?:\s+to\s+be)?|appears(?:\s+to\s+be)?|looks|sounds)\s+"
            rf"(?i:the\s+)?(?i:correct|right|best|preferred|most\s+appropriate|most\s+likely|most\s+consistent|"
            rf"treatment\s+of\s+choice|first-line|my\s+(?:final\s+)?(?:answer|choice|pick)|answer|one(?!\s+of))(?![A-Za-z])|"
            # Option A fits best  D it is
            rf"(?i:options?\s*)?[(\[]?{ups}[)\]]?\s+(?i:fits\s+best|best\s+fits|it\s+is)(?![A-Za-z])")
        self.judged_line = re.compile(rf"^[(\[]?({up})[)\]]?[^\n✗✘×❌]{{0,60}}?(?:[:：]\s*(?:正确|对)(?!的是)|[✓✔√]|"
                                      rf"[(（]正确[)）]|(?<!不)正确[。.]?$)", re.MULTILINE)
        # where a per-option verdict item starts: a line, a table cell, after ; 。 . : or a mark
        self.item_label = re.compile(rf"(?:^|(?<=[\n|;；。.:：✓✔√✅❌✗✘×]))[ \t|]*(?:(?i:option)\s+|选项\s*)?"
                                     rf"[(\[]?({up})(?![A-Za-z0-9])[)\]]?(?:项)?[.、)]?", re.MULTILINE)
        self.conclusion = re.compile(rf"{_CONCLUSION}[,，:\s]*(?:本题|这道题|该题)?(?:应该|应当|应)?"
                                     rf"(?:是|为|选项|选)?\s*{ups}{_NOT_A_WORD}|"
                                     # "…, so D."  "Therefore, E." (the letter ends the sentence)
                                     rf"(?i:\b(?:so|therefore|thus|hence)[,\s]+(?:it'?s\s+|option\s+)?){ups}(?=\s*(?:[.!;]|$))")
        # a hedge: the statement's letters go on "or D" / 或C; "between A and D"; 也可能是B; "both A and D are plausible"
        self.hedge_next = re.compile(rf"\s*[(（]?\s*(?:或者?|还是|(?i:or)(?:\s+(?:possibly|maybe|perhaps|probably))?)\s*"
                                     rf"(?:选项?|(?i:option)\s+)?[(\[]?{up}(?![A-Za-z0-9])")
        self.hedge = re.compile(rf"(?i:between)\s+(?i:options?\s+)?{up}\s+(?i:and)\s+{up}(?![A-Za-z])|"
                                rf"(?i:either)\s+(?i:options?\s+)?{up}\s+(?i:or)\s+{up}(?![A-Za-z])|"
                                rf"(?i:both)\s+(?i:options?\s+)?{up}\s+(?i:and)\s+{up}\s+(?i:(?:are|seem|look)\s+(?:equally\s+)?"
                                rf"(?:plausible|possible|reasonable|likely|defensible|acceptable|valid|correct)|could|might|may)\b|"
                                rf"也(?:可能|可以)(?:是|选)?\s*{up}(?![A-Za-z0-9])|"
                                rf"{up}\s*(?:或者?|还是)\s*{up}(?![A-Za-z0-9])(?!\s*(?:都|均|也)?(?:不|错|排除|禁))")
        self.whole = re.compile(rf"^[\W_]*(?:(?i:option|choice)\s+|选项\s*)?{letters}[\W_]*$")
        self.leading = re.compile(rf"^[\s(\[【]*({up}+)(?:项|选项)?(?:[.、:)\]】。,，\-—]|\s*$|\s+(?=[\u4e00-\u9fff]))|"
                                  rf"^[\s(\[]*({cls})[.)\]](?:\s|$)")
        self.bracketed = re.compile(rf"[(\[]\s*({cls})\s*[)\]]")
        # LaTeX-style final answers of maths-trained models: \boxed{E}, \boxed{\text{E}}
        self.boxed = re.compile(rf"\\boxed\s*\{{\s*(?:\\text(?:bf)?\s*\{{)?\s*{letters}\s*\}}?\s*\}}")
        self.tail = re.compile(rf"[:：]\s*{letters}[\W_]*$")


_NEGATED = re.compile(r"(?:不|别|勿|禁|忌|避免|如果|若|假如|要是|\bnot|n't|\bavoid|\bnever)\s*(?:宜|应|该|能|要|可|得)?\s*"
                      r"(?:\w{0,4}\s*)?$", re.IGNORECASE)
# an option's text named right after these is not chosen: 不宜选用D美托洛尔  not Graves disease  rather than X
_TEXT_NEGATED = re.compile(r"(?:不|别|勿|禁|忌|避免|如果|若|假如|要是|而非|并非|排除|除外|\bnot|n't|\bavoid|\bnever|"
                           r"rather\s+than|instead\s+of|other\s+than)\s*(?:宜|应|该|能|要|可|得)?\s*(?:\w{0,4}\s*)?$",
                           re.IGNORECASE)
# …nor an option named and then judged wrong: "potassium restriction would be harmful"  降压至正常不推荐
_TEXT_DENIED = re.compile(r"\s*(?:不推荐|不宜|禁用|错误|不正确|不对|是错的|可能性(?:小|不大)|"
                          r"(?i:(?:would\s+be|is|are|seems)\s+(?:dangerous|harmful|contraindicated|wrong|incorrect|"
                          r"inappropriate|unlikely|less\s+likely|ruled\s+out|excluded|"
                          r"not\s+(?:indicated|recommended|correct|likely))))")
# an option's text judged right, as "B is correct" is: "Intravenous normal saline is the first step"  氨氯地平是首选
_TEXT_JUDGED = re.compile(r"\s*(?:[(（][A-Za-z][)）])?\s*(?:是|为)(?:正确的|首选|最佳|最合适的?|最恰当的?)|"
                          r"\s*(?:[(（][A-Za-z][)）])?\s*(?i:(?:is|would\s+be)\s+(?:the\s+)?(?:correct|right|best|preferred|"
                          r"first(?:-line)?|initial|most\s+(?:appropriate|likely)|treatment\s+of\s+choice)\b)")
# a choice verb whose subject is someone else is no statement: 很多同学会选C  容易误选A  many students pick D
_OTHERS_CHOOSE = re.compile(r"(?:误|会|容易|常常?|有人|有些人|别人|同学们?|考生|学生|很多人|以为|"
                            r"(?i:\b(?:some(?:one)?|many|most|students|people|others|tempting\s+to|might|may)\b)"
                            r"(?:\s+\w+){0,2})\s*$")


def _last_plausible(pattern: re.Pattern, text: str, negatable: bool = False) -> Optional[re.Match]:
    hits = _plausible_hits(pattern, text, negatable)
    return hits[-1] if hits else None


def _plausible_hits(pattern: re.Pattern, text: str, negatable: bool = False) -> list[re.Match]:
    found = []
    for hit in pattern.finditer(text):
        group = next(i for i in range(1, (pattern.groups or 1) + 1) if hit.group(i) is not None)
        if not _plausible(text, hit, group):
            continue
        if negatable and (_NEGATED.search(text[max(0, hit.start() - 6):hit.start()])
                          or _OTHERS_CHOOSE.search(text[max(0, hit.start() - 24):hit.start()])):
            continue
        found.append(hit)
    return found


_DENIAL = re.compile(r"\s*(?:都|均|也|则)?(?:不是|不对|不正确|错误|错|不符合|(?i:is|are)\s+(?:not|incorrect|wrong))")


def _unless_denied(text: str, hit: re.Match) -> str:
    """The letters of `hit`, without the trailing ones a clause denies: "答案是ABC，D和E不是…" -> ABC."""
    group = _group_index(hit)
    found = hit.group(group)
    if not _DENIAL.match(text, hit.end(group)):
        return found
    parts = re.split(r"[，,；;]", found)  # "ABC，D和E": the answer ends where a new clause starts
    return parts[0] if len(parts) > 1 else found


def _group(hit: re.Match) -> str:
    return next(g for g in hit.groups() if g is not None)


def _group_index(hit: re.Match) -> int:
    return next(i for i in range(1, len(hit.groups()) + 1) if hit.group(i) is not None)


def _squash(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text).lower()


def _option_pattern(value: str) -> Optional[re.Pattern]:
    """An option's text, matched with any spacing, punctuation and case: "Graves disease" ~ "graves' disease"."""
    target = _squash(normalise(value))
    if len(target) < 2:
        return None
    return re.compile(r"[\s\W_]*".join(re.escape(ch) for ch in target), re.IGNORECASE)


def _option_text(norm: str, options: Mapping[str, str]) -> Optional[str]:
    matched = {}
    for key, value in options.items():
        pattern = _option_pattern(value)
        # an option named only right after a negation (不宜选用D美托洛尔, not Graves disease) is not chosen
        if pattern and any(not _TEXT_NEGATED.search(norm[max(0, m.start() - 12):m.start()])
                           and not _TEXT_DENIED.match(norm, m.end()) for m in pattern.finditer(norm)):
            matched[key] = _squash(normalise(value))
    matched = {k: v for k, v in matched.items() if not any(v != w and v in w for w in matched.values())}
    return next(iter(matched)) if len(matched) == 1 else None


def _judged_texts(norm: str, options: Mapping[str, str]) -> str:
    """The options whose text the reply judges right: "Intravenous normal saline is the first step", 氨氯地平是首选."""
    judged = ""
    for key, value in options.items():
        pattern = _option_pattern(value)
        if pattern and any(_TEXT_JUDGED.match(norm, m.end())
                           and not _TEXT_NEGATED.search(norm[max(0, m.start() - 12):m.start()])
                           for m in pattern.finditer(norm)):
            judged += key
    return judged


def _named_option(item: str, options: Mapping[str, str]) -> Optional[str]:
    """The one option `item` names: its whole text, or a distinctive part of it ("normal saline", "阿替普酶")."""
    squashed = _squash(_ARTICLE.sub("", item.strip()))
    if not squashed:
        return None
    texts = {k: _squash(normalise(v)) for k, v in options.items()}
    exact = [k for k, v in texts.items() if v == squashed]
    if exact:
        return exact[0]
    long_enough = len(squashed) >= (2 if re.search(r"[\u4e00-\u9fff]", squashed) else 4)
    partial = [k for k, v in texts.items() if squashed in v] if long_enough else []
    return partial[0] if len(partial) == 1 else None


def _text_answer(norm: str, head: re.Match, options: Mapping[str, str]) -> Optional[tuple[str, bool]]:
    """The options named right after an answer phrase or a choice verb ("答案是阿替普酶静脉溶栓", "the answers are
    jaundice, dark urine and pale stools"), and whether they were joined by "or" (a hedge); None if none is."""
    rest = norm[head.end():head.end() + 200]
    end = _TEXT_END.search(rest)
    clause = rest[:end.start()] if end else rest
    keys, hedged, position = [], False, 0
    for sep in list(_TEXT_ITEMS.finditer(clause)) + [None]:
        item = clause[position:sep.start() if sep else len(clause)]
        key = _named_option(item, options)
        if key is None:
            break
        keys.append(key)
        if sep is None:
            break
        hedged = hedged or bool(_TEXT_HEDGE.search(sep.group()))
        position = sep.end()
    return ("".join(sorted(set(keys))), hedged and len(set(keys)) > 1) if keys else None


class _Statement(NamedTuple):
    start: int
    letters: Optional[str]   # None: a hedge between options, or a letter that is no option (答案：F)
    hedged: bool = False


def _statements(norm: str, pats: _Patterns, options: Mapping[str, str]) -> list[_Statement]:
    """Every place the reply states its answer (rules 0-2 and 4, and answer phrases followed by an option's
    text), in order; hedges ("B或C", "between A and D") as statements without letters."""
    found = []

    def add(hit: re.Match, letters: Optional[str], end: int) -> None:
        hedged = bool(pats.hedge_next.match(norm, end))
        found.append(_Statement(hit.start(), letters, hedged))

    for pattern, negatable in ((pats.boxed, False), (pats.contrast, False), (pats.answer, False),
                               (pats.verb, True), (pats.conclusion, False)):
        for hit in _plausible_hits(pattern, norm, negatable):
            add(hit, _letters(_unless_denied(norm, hit), options), hit.end(_group_index(hit)))
    for pattern, negatable in ((pats.answer_head, False), (pats.verb_head, True)):
        for hit in pattern.finditer(norm):
            if negatable and (_NEGATED.search(norm[max(0, hit.start() - 6):hit.start()])
                              or _OTHERS_CHOOSE.search(norm[max(0, hit.start() - 24):hit.start()])):
                continue
            named = _text_answer(norm, hit, options)
            if named:
                found.append(_Statement(hit.start(), named[0], named[1]))
    found += [_Statement(h.start(), None) for h in pats.hedge.finditer(norm)]
    return sorted(found, key=lambda s: s.start)


def _final_answer(norm: str, statements: list[_Statement]) -> Optional[str]:
    """The answer the statements give: those after the last change of mind ("不对，…", "wait, … actually") must
    agree and not hedge, and the last may not be a hedge; otherwise the reply gives two answers: None."""
    last = statements[-1].start
    revised = [m.end() for m in _REVISION.finditer(norm, 0, last)]
    final = [s for s in statements if s.start >= (revised[-1] if revised else 0)]
    if final[-1].letters is None:
        return None
    answers = {s.letters for s in final if s.letters is not None}
    if len(answers) != 1 or any(s.hedged for s in final):
        return None
    return answers.pop()


def _verdict(item: str, option_text: str) -> Optional[bool]:
    """True / False for an option judged right / wrong in its own line or row; None when it is not judged."""
    own = _squash(option_text)
    for cell in _CELL_SEP.split(item.strip()):
        cell = cell.strip()
        if not cell or (own and _squash(cell) == own):
            continue
        if _VERDICT_NEG.match(cell):
            return False
        if _VERDICT_POS.match(cell):
            return True
    if any(m in item for m in _NEG_MARKS):
        return False
    if any(m in item for m in _POS_MARKS):
        return True
    return None


def _verdict_list(norm: str, pats: _Patterns, options: Mapping[str, str]) -> str:
    """The options judged right in a per-option list or table ("A ❌ … B ✅ …", "| B | 正确 |", "D. … — yes"),
    when at least two options are judged; "" otherwise."""
    labels = list(pats.item_label.finditer(norm))
    verdicts = {}
    for label, following in zip(labels, labels[1:] + [None]):
        key = label.group(1)
        item = norm[label.end():following.start() if following else len(norm)].split("\n", 1)[0]
        verdict = _verdict(item, normalise(options.get(key, "")))
        if verdict is not None:
            verdicts[key] = verdicts.get(key, False) or verdict
    return "".join(k for k, v in verdicts.items() if v) if len(verdicts) >= 2 else ""


def _all_chosen(norm: str, options: Mapping[str, str]) -> Optional[str]:
    """全选 / 以上都是 / all of the above: the "all of the above" option if there is one, else every option."""
    if not _ALL_CHOSEN.search(norm):
        return None
    everything = [k for k, v in options.items() if _ALL_OPTION.match(normalise(v).strip())]
    return everything[0] if len(everything) == 1 else "".join(sorted(options))


def _cut_off(norm: str, options: Mapping[str, str]) -> bool:
    """The reply ends mid-sentence after at least one finished one, or on a dangling word: it was cut off
    while reasoning. A last line that is an option's text alone ("…\\n氨氯地平") is an answer line, not a cut."""
    last_line = _squash(norm.rsplit("\n", 1)[-1])
    if any(last_line == _squash(normalise(v)) for v in options.values()):
        return False
    return not _CLOSED_END.search(norm) and bool(_SENTENCE_END.search(norm) or _DANGLING.search(norm))


def _json_choice(norm: str, options: Mapping[str, str]) -> tuple[bool, Optional[str]]:
    """(found, answer) from the last JSON answer field: {"answer": "C"}, {"answer": ["A", "B"]}."""
    hits = list(_JSON_CHOICE.finditer(norm))
    if not hits:
        return False, None
    value = hits[-1].group(1)
    if value.startswith("["):
        value = ", ".join(re.findall(r"""["']([^"']*)["']""", value))
    else:
        value = value[1:-1]
    return True, extract_choice(value, options) if value.strip() else None


def extract_choice(text: Optional[str], options: Mapping[str, str]) -> Optional[str]:
    """The chosen option letter(s), sorted, or None when the reply gives no valid choice."""
    norm = normalise(text)
    if not norm or not options:
        return None
    found, answer = _json_choice(norm, options)
    if found:
        return answer
    keys = "".join(sorted(k.upper() for k in options))
    pats = _Patterns(keys)
    statements = _statements(norm, pats, options)
    if statements:
        return _final_answer(norm, statements)
    hit = _last_plausible(pats.superlative, norm)
    if hit:
        return _letters(_unless_denied(norm, hit), options)
    judged = ([_group(h) for h in pats.judged.finditer(norm)] + [h.group(1) for h in pats.judged_line.finditer(norm)]
              + [_verdict_list(norm, pats, options), _judged_texts(norm, options)])  # rule 3
    if "".join(judged):
        return _letters("".join(judged), options)
    everything = _all_chosen(norm, options)
    if everything:
        return everything
    hit = pats.whole.match(norm)
    if hit and _plausible(norm, hit):
        return _letters(hit.group(1), options)
    listing = len(set(re.findall(rf"^[(\[]?([{keys}])[.、:)\]]", norm, re.MULTILINE))) >= 2
    hit = None if listing else pats.leading.match(norm)  # a reply that only lists the options chose none
    if hit and not _LEADING_DENIED.search(re.split(r"[。!?！？\n]|\.(?=\s)", norm[hit.end():], maxsplit=1)[0]):
        return _letters(_group(hit), options)
    last_line = norm.rsplit("\n", 1)[-1]
    hit = pats.whole.match(last_line) if "\n" in norm else None
    if hit and _plausible(last_line, hit):
        return _letters(hit.group(1), options)
    hit = pats.tail.search(norm)
    if hit and _plausible(norm, hit):
        return _letters(hit.group(1), options)
    if _cut_off(norm, options):  # an option named in passing in unfinished reasoning is no answer
        return None
    bracketed = {m.group(1).upper() for m in pats.bracketed.finditer(norm)}
    if len(bracketed) == 1:
        return _letters(bracketed.pop(), options)
    return _option_text(norm, options)


def conflicting_choice(text: Optional[str], options: Mapping[str, str]) -> bool:
    """True when the reply states answers and they read as none: two that disagree after the last change of
    mind, a hedge between options ("B或C"), or a letter that is no option. Counted apart from replies
    that state nothing at all (report.md's reading section)."""
    norm = normalise(text)
    if not norm or not options or _json_choice(norm, options)[0]:
        return False
    statements = _statements(norm, _Patterns("".join(sorted(k.upper() for k in options))), options)
    return bool(statements) and _final_answer(norm, statements) is None


LABELS = ("yes", "no", "maybe")
_LABEL_WORDS = {"yes": "yes", "no": "no", "maybe": "maybe", "是": "yes", "是的": "yes", "否": "no",
                "不是": "no", "不确定": "maybe", "可能": "maybe", "不能确定": "maybe", "无法确定": "maybe",
                "尚不确定": "maybe", "不一定": "maybe"}
_LABEL = r"(yes|no|maybe|不能确定|无法确定|尚不确定|不一定|不确定|是的|不是|是|否|可能)"
_LABEL_EXPLICIT = re.compile(r"(?:final decision|final answer|answer|decision|答案|结论)"
                             r"(?:\s*(?:is|would be|:|是|为|\n))+\s*[(\[]?\s*"
                             rf"{_LABEL}(?![a-z])", re.IGNORECASE)
_LABEL_LEADING = re.compile(r"^[\W_]*(yes|no|maybe)(?![a-z])|^[\W_]*(是的|不是|否|不能确定|无法确定|尚不确定|不一定|不确定|是(?=[\W_]*$|[，。,.！!]))",
                            re.IGNORECASE)
# a conclusion that overrides the first word: "Yes, … so overall, no."  "是。……因此是。"  "…, I'd say maybe."
# The label must end its clause: "so no further trials were needed" is no answer.
_LABEL_CONCLUSION = re.compile(
    r"(?:(?<![a-z])(?:so|therefore|thus|hence|overall|in\s+conclusion|in\s+summary|to\s+conclude|to\s+summari[sz]e|"
    r"on\s+balance|all\s+in\s+all|in\s+short|in\s+the\s+end|all\s+things\s+considered|after\s+all|finally|ultimately|"
    r"actually|on\s+reflection|on\s+second\s+thought|"
    r"I'?d\s+(?:say|answer)|I\s+would\s+(?:say|answer)|I'?ll\s+(?:say|answer))|"
    r"因此|所以|综上所述|综上|总之|因而|总的来说|我认为|我觉得|结论)"
    r"(?:[\s,，:：]|the\s+answer\s+(?:is|would\s+(?:have\s+to\s+)?be)|my\s+answer\s+is|I\s+would\s+(?:say|answer)|"
    r"I'?d\s+(?:say|answer)|overall|then|it'?s|it\s+is|应该是|应是|是|为|答案(?:是|为)?)*"
    rf"{_LABEL}(?=\s*(?:[.。!！,，;；:：—-]|$))", re.IGNORECASE)
# the reply ends on the label alone: "…. Maybe."  "…, make it clear: yes."
_LABEL_LAST = re.compile(rf"(?:^|[.。!！?？;；:：\n]\s*){_LABEL}[.。!！]?\s*$", re.IGNORECASE)
# a hedge between labels: "yes or maybe"
_LABEL_HEDGE = re.compile(r"\b(?:yes|no|maybe)\s*(?:or|/)\s*(?:yes|no|maybe)\b|(?:是|否)或(?:是|否|不确定)", re.IGNORECASE)
_JSON_LABEL = re.compile(r"""["'](?:final[_ ]?(?:answer|decision)|answer|decision|label|答案|结论|判断)["']"""
                         r"""\s*:\s*("[^"]*"|'[^']*')""", re.IGNORECASE)


def _label_statements(norm: str) -> list[tuple[int, Optional[str]]]:
    """(position, label) of every statement of the label, in order; hedges as (position, None)."""
    found = [(h.start(), _LABEL_WORDS[h.group(1).lower()]) for h in _LABEL_EXPLICIT.finditer(norm)]
    found += [(h.start(1), _LABEL_WORDS[h.group(1).lower()]) for h in _LABEL_CONCLUSION.finditer(norm)]
    found += [(h.start(1), _LABEL_WORDS[h.group(1).lower()]) for h in _LABEL_LAST.finditer(norm)
              if h.start(1) > 0]  # a reply that is only the label is rule 2's
    found += [(h.start(), None) for h in _LABEL_HEDGE.finditer(norm)]
    return sorted(set(found), key=lambda s: s[0])


def extract_label(text: Optional[str]) -> Optional[str]:
    """yes / no / maybe, or None when the reply commits to none (or to several)."""
    norm = normalise(text)
    if not norm:
        return None
    hits = list(_JSON_LABEL.finditer(norm))
    if hits:
        return extract_label(hits[-1].group(1)[1:-1])
    statements = _label_statements(norm)
    if statements:
        revised = [m.end() for m in _REVISION.finditer(norm, 0, statements[-1][0])]
        final = [s for s in statements if s[0] >= (revised[-1] if revised else 0)]
        labels = {label for _, label in final if label}
        return labels.pop() if final[-1][1] and len(labels) == 1 else None
    hit = _LABEL_LEADING.match(norm)
    if hit:
        return _LABEL_WORDS[(hit.group(1) or hit.group(2)).lower()]
    found = {w.lower() for w in re.findall(r"\b(yes|no|maybe)\b", norm, re.IGNORECASE)}
    return found.pop() if len(found) == 1 else None


def conflicting_label(text: Optional[str]) -> bool:
    """True when the reply states yes/no/maybe more than once and they disagree or hedge ("yes or maybe")."""
    norm = normalise(text)
    if not norm or _JSON_LABEL.search(norm):
        return False
    return bool(_label_statements(norm)) and extract_label(text) is None


def main(argv: list[str]) -> int:
    options = dict(o.split(". ", 1) for o in argv[0].split("|")) if argv else {}
    for line in sys.stdin:
        reply = line.rstrip("\n").replace("\\n", "\n")
        print(f"{extract_choice(reply, options) if options else extract_label(reply)!s:6s} <- {reply[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
