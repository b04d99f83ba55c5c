"""Restructuring of a free-text medical answer into the five sections

    【病情分析】 【指导建议】 【药物说明】 【风险提示】 【免责声明】

one header per line, its text on the next line (the layout of data/samples/qa.jsonl),
by moving the answer's own sentences -- never by writing new ones, never by cutting one.

The unit is the whole sentence: a clause torn from its sentence changes what the doctor said
("如果症状持续不缓解，" in one section, "建议及时就诊" in another; a cause filed under advice).
A sentence ends after 。！？!?；; and closing quotes, an English "." before a space or the end
(not "38.5"), and at a line break. Units are exact slices of the answer, the whitespace and line
breaks after them included, so a section keeps the source's line breaks and its order.

restructure(answer, placeholders=None):
  1. An answer that already contains each of the five headers exactly once, in this order,
     is returned unchanged (byte for byte).
  2. Text under a 【header】 stays in that section, sentence by sentence.
  3. Free text: an author's label opening a sentence ("病情分析：", "指导意见：", "建议：", ...)
     is dropped and starts a labelled run. A sentence that is nothing but a greeting or sign-off
     (你好 谢谢 祝早日康复 希望对你有帮助) is dropped, and so is a greeting clause opening a sentence
     or a sign-off closing one. Each drop is listed in the report's "dropped".
  4. Units: a numbered list (1. 1、 (1) ① 一、 at the start of a sentence or after a colon) is one
     unit with every item that follows it, on its own line or the same one, and with its lead-in
     sentence when that ends in a colon ("你应该立即联系医生：" stays with its list). A sentence that
     is only a condition ("如果血压一直偏高的话。", "若…。") is one unit with the sentence after it.
  5. Each unit goes to one section, by the rules in RULES applied to its clauses (a condition
     kept with its consequence): the section most of its clauses name, ties to the earliest.
       免责声明  仅供/仅作…参考, 不能替代/代替 + 医生/面诊/诊疗..., 以…为准
       风险提示  alarm words (及时就医 急诊 警惕 拨打120 注意观察 以免 否则 严重时 并发症 ...)
                 or a condition followed by an escalation (加重 持续 不缓解 就医 检查 ...)
       药物说明  drug names and name endings (霉素 西林 沙星 拉唑 ...), dosage forms, administration
                 (口服 服用 用药 外用 注射), 药 (not 药店/药房/药师), doses with a unit, 说明书
       指导建议  a clause that STARTS like an instruction (建议 应 需 请 可 尽量 避免 不要 注意 ...)
       病情分析  explanation words (考虑 可能性 提示 多为 常见 诊断 有关 引起 导致 原因 ...)
       指导建议  advice words anywhere (建议 应该 需要 避免 休息 多喝水 饮食 清淡 锻炼 复查 ...)
     A unit no rule matches continues the section of the unit before it; the first goes to the
     labelled run's section, else to 病情分析. In a labelled run a unit keeps the label's section
     unless all its votes are for 免责声明, 风险提示 or 药物说明. Then a content section left empty
     takes a whole unit that names its topic among others, from a section that keeps another unit
     (the unit with the largest share of votes for it; see _fill_empty).
  6. Units keep their wording and their order within a section; nothing is edited.
  7. A section that received nothing gets a placeholder, the only text ever added, with its
     reason: "nothing": the answer says nothing on that topic (DEFAULT_PLACEHOLDERS, configurable);
     "not placed": a clause of another section's sentence is on that topic, so the content is
     in the answer under another header (NOT_PLACED says so). 【免责声明】 gets the standard
     disclaimer unless a unit went there.

The report: {"unchanged", "units": {section: units}, "empty": [sections with a placeholder],
"not_placed": [those of them whose topic is elsewhere in the answer], "disclaimer": "found" |
"standard" ("none" only for an unchanged answer whose disclaimer section is empty), "dropped":
[greetings and labels removed], "faithful": the check below, "condition_splits": conditions
whose completing clause went to another section, "list_splits": numbered lists cut across
sections}. faithful(): the units, dropped pieces and headers, in source order, rebuild the answer
exactly, and each section's text is exactly its units joined. tally(counter, report) and
fill_rates(counter) sum reports into the data report's figures. classify(sentence) is the rule
lookup alone. units_of() and assemble() are the halves the model-assisted mode (five_section_llm.py)
reuses: the same units, and an answer built from original text only.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Optional

from core.answer_format import SECTIONS  # noqa: E402
DEFAULT_PLACEHOLDERS = {
    "病情分析": "暂无具体病情分析，请结合医生面诊情况判断。",
    "指导建议": "暂无具体指导建议，请遵医嘱。",
    "药物说明": "暂无具体用药建议，请在医生指导下用药。",
    "风险提示": "暂无特别风险提示，如有不适请及时就医。",
    "免责声明": "以上内容仅供参考，不能替代医生面诊，具体诊疗请遵医嘱。",  # the standard disclaimer
}
# the answer covers the topic inside a sentence of another section: say where, not "nothing"
NOT_PLACED = {
    "病情分析": "病情分析见本回答其他部分。",
    "指导建议": "相关建议见本回答其他部分。",
    "药物说明": "用药相关内容见本回答其他部分。",
    "风险提示": "风险相关内容见本回答其他部分。",
    "免责声明": DEFAULT_PLACEHOLDERS["免责声明"],
}

_HEADER = re.compile("【(" + "|".join(SECTIONS) + ")】")
_END = re.compile(r"[。！？!?；;]+[”’」』）)\"']*|(?<![\d.])\.(?=\s|$)[\"']*")
_WORD = re.compile(r"\w")
_GREETING_WORDS = (r"(?:医生|大夫)?(?:你好|您好|谢谢|感谢(?:您|你)?的?(?:提问|咨询|信任)|"
                   r"祝(?:您|你)?.{0,6}(?:健康|康复|顺利|愉快))")
_GREETING = re.compile(rf"^{_GREETING_WORDS}[！!。.，,~～]*$")
_LEADING_GREETING = re.compile(rf"^(?:医生|大夫)?(?:你好|您好)[！!，,~～]+")
_SIGNOFF_WORDS = r"(?:希望|期望|愿)(?:以上|我的)?.{0,10}(?:帮助|协助|有用)|祝(?:您|你)?.{0,6}(?:健康|康复|顺利|愉快)"
_SIGNOFF = re.compile(rf"^(?:{_SIGNOFF_WORDS})[！!。.，,~～]*$")
_TRAILING_SIGNOFF = re.compile(rf"[，,](?:{_SIGNOFF_WORDS})[！!。.~～]*\s*$")

_CJK = r"[\u4e00-\u9fff]"
_COND = r"(?:^如|如果|若|一旦|假如|要是|万一|倘若|必要时|如(?=[有出仍果症持发伴病高反]))"
_ESCALATE = (r"(?:加重|持续|不缓解|未缓解|无缓解|没有缓解|不见好|无好转|未好转|没有好转|恶化|反复|"
             r"就医|就诊|复诊|复查|检查|医院|急诊|紧急|立即|马上|尽快|尽早|及时|急救|专业帮助|不消|不退|手术)")
# (section, pattern) in priority order; the first match names a clause's section.
RULES: list[tuple[str, re.Pattern]] = [
    ("免责声明", re.compile(r"仅[供作].{0,6}参考|(?:不能|无法|不可)(?:替代|代替).{0,6}(?:医生|医师|面诊|诊疗|就医|诊断|专业)"
                           r"|以.{0,12}为准")),
    ("风险提示", re.compile(
        r"及时就医|立即就医|尽快就医|马上就医|及早就医|及时就诊|立即就诊|尽快就诊|急诊|警惕|拨打120|急救电话|"
        rf"危及生命|切勿拖延|注意观察|密切观察|以免|否则|严重(?:时|者|的话)|并发症|后遗症|{_COND}.*?{_ESCALATE}")),
    ("药物说明", re.compile(
        r"布洛芬|对乙酰氨基酚|阿莫西林|头孢|阿奇霉素|奥美拉唑|氯雷他定|西替利嗪|二甲双胍|阿司匹林|胰岛素|"
        r"青霉素|甲硝唑|蒙脱石散|益生菌|泼尼松|地塞米松|连花清瘟|板蓝根|藿香正气|"
        rf"{_CJK}(?:霉素|西林|沙星|拉唑|他定|洛尔|地平|普利|沙坦|他汀|替丁|康唑|洛韦|米松|的松|替尼)|"
        r"片剂|药片|胶囊|颗粒|冲剂|口服液|糖浆|混悬液|滴剂|软膏|乳膏|药膏|凝胶|滴眼液|眼药水|喷剂|气雾剂|吸入剂|"
        r"栓剂|贴剂|注射液|含漱液|漱口水|"
        rf"(?<={_CJK})(?<![胸拍照平底卡名图相切膜刀])片(?=[，,。；;、）)\s]|$)|"
        r"口服|服用|服药|吃药|用药|外用|外涂|含服|冲服|注射|输液|雾化|抗生素|(?<![雌孕性腺长])激素|抗病毒|抗组胺|"
        r"药(?![店房师])|"
        r"\d+(?:\.\d+)?\s*(?:mg|毫克|μg|微克|IU|国际单位|片|粒|袋|支)|(?<!低)剂量|说明书")),
    # advice phrased as an instruction: starts with an advice verb (checked before explanation words)
    ("指导建议", re.compile(r"^(?:建议|应|需|请|可(?![能见])|尽量|尽早|避免|不要|勿|注意|多[喝饮吃休]|少[吃喝食]|保持|"
                           r"减少|增加|定期|平时|每|勤|居家|暂停|固定|调整|坚持|提倡|防止|先)")),
    # explanation words: such a clause stays in 病情分析 even if it mentions 检查/饮食/...
    ("病情分析", re.compile(r"考虑|可能性|的可能|可能[与由是为存]|提示|多为|多由|多见|常见|典型|诊断|有关|相关|"
                           r"引起|导致|属于|怀疑|表现为?|原因|因素|容易")),
    ("指导建议", re.compile(
        r"建议|应该|应当|最好|需要|可以|可(?:改|用|在|到|先|适当|练习|考虑|以)|避免|不要|尽量|适当|"
        r"注意休息|多喝水|多饮水|休息|饮食|清淡|忌口|少食多餐|戒烟|戒酒|锻炼|运动|作息|熬夜|复查|随访|"
        r"检查(?!结果|显示|报告|提示)|保持|减少|少吃|多吃|控制|监测|记录")),
]

CONTENT = SECTIONS[:4]              # sections filled from the answer's text; the disclaimer is apart
_CLAUSE = re.compile(r"[，]|(?<!\d),(?!\d)")
_LABELS = {"病情分析": "病情分析", "分析": "病情分析", "指导意见": "指导建议", "意见建议": "指导建议",
           "医生建议": "指导建议", "治疗建议": "指导建议", "处理意见": "指导建议", "建议": "指导建议",
           "用药建议": "药物说明", "温馨提示": "风险提示", "注意事项": "风险提示",
           # the written conclusion of an online consultation (HuatuoGPT's Med-dialog)
           "病情摘要及初步印象": "病情分析", "初步印象": "病情分析", "疾病诊断": "病情分析", "总结建议": "指导建议",
           "药品": "药物说明"}
_LABEL = re.compile(r"^(" + "|".join(sorted(_LABELS, key=len, reverse=True)) + r")\s*[:：]\s*")
# how the consequence of a condition starts: "如果……，建议/要/需/请/应/立即/及时/可……"
_CONSEQUENCE = re.compile(r"^(?:则|就|建议|要|需|请|应|必须|一定|务必|立即|立刻|马上|及时|尽快|尽早|可|最好|均|都|再)")
MAX_CONDITION = 5                   # clauses a condition may span before its consequence
_GROUP_START = re.compile(r"^(?:如果|若|一旦|假如|要是|万一|倘若|如(?=[有出仍果症持发伴病高反]))")
_HAS_CONDITION = re.compile(r"如果|若|一旦|假如|要是|万一|倘若|^如(?=[有出仍果症持发伴病高反])")
# a sentence that is only a condition, its consequence in the next sentence: "…的话。", "…的时候。", or
# one clause that opens with a condition and holds no word of a consequence ("如果出现头痛。", not
# "如果确认是癫痫需要长期服药。", which is complete although the source has no comma in it)
_CONDITION_END = re.compile(r"(?:的话|的时候|之时)[。；;，,]?$")
_CONDITION_OPEN = re.compile(r"^(?:如果|若|一旦|假如|要是|万一|倘若)[^，,]*[。；;]?$")
_CONSEQUENCE_WORD = re.compile(r"就|则|要|需|请|应|建议|可|会|能|必须|务必|立即|及时|尽快|是|为|有助")


def is_condition_only(sentence: str) -> bool:
    """Whether a sentence is a bare condition whose consequence is the next sentence."""
    sentence = sentence.strip()
    return bool(_CONDITION_END.search(sentence) or
                (_CONDITION_OPEN.match(sentence) and not _CONSEQUENCE_WORD.search(sentence[2:])))


# numbered list items: "1." "1、" "（1）" "①" "一、" at the start of a sentence or after a colon
_ITEM = r"(?:\d{1,2}[.、．)）](?!\d)|[（(]\d{1,2}[)）]|[①-⑳]|[一二三四五六七八九十]{1,2}、)"
_ITEM_START = re.compile(rf"^\s*{_ITEM}")
_ITEM_AFTER_COLON = re.compile(rf"[：:]\s*{_ITEM}")
_ITEM_NUMBER = re.compile(r"(?:^|[\s：:。；;，,])(?:(\d{1,2})[.、．)）](?!\d)|[（(](\d{1,2})[)）])")
_LEAD_IN = re.compile(r"[：:]\s*$")
_OVERRIDE_LABEL = ("免责声明", "风险提示", "药物说明")


@dataclass(frozen=True)
class Piece:
    """source[start:end] of the answer: a unit, or what was dropped (kind "dropped") or a header ("header")."""
    start: int
    end: int
    kind: str = "unit"


def _sentence_pieces(text: str, offset: int) -> list[Piece]:
    """Pieces that tile text exactly: each sentence with the whitespace after it; a piece without a
    word character (stray punctuation, blank lines) joins the piece before it (or after, at the start)."""
    cuts = {0, len(text)}
    for match in _END.finditer(text):
        cuts.add(match.end())
    for match in re.finditer(r"\n", text):
        cuts.add(match.start())
    bounds = sorted(cuts)
    raw = [[a, b] for a, b in zip(bounds, bounds[1:]) if b > a]
    for span in raw:  # trailing whitespace stays with its sentence
        while span[1] < len(text) and text[span[1]].isspace():
            span[1] += 1
    spans: list[list[int]] = []
    for a, b in raw:
        if spans and a < spans[-1][1]:
            a = spans[-1][1]
        if b <= a:
            continue
        if spans and not _WORD.search(text[a:b]):
            spans[-1][1] = b
        elif spans and not _WORD.search(text[spans[-1][0]:spans[-1][1]]):
            spans[-1][1] = b
        else:
            spans.append([a, b])
    return [Piece(offset + a, offset + b) for a, b in spans]


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped; line breaks always end a sentence."""
    return [text[p.start:p.end].strip() for p in _sentence_pieces(text, 0) if _WORD.search(text[p.start:p.end])]


def split_clauses(sentence: str) -> list[str]:
    """Clauses of one sentence, each with its trailing comma."""
    out, start = [], 0
    for match in _CLAUSE.finditer(sentence):
        out.append(sentence[start:match.end()])
        start = match.end()
    out.append(sentence[start:])
    return [c for c in (c.strip() for c in out) if _WORD.search(c)]


def _rule(text: str, allowed=SECTIONS) -> str | None:
    for section, pattern in RULES:
        if section in allowed and pattern.search(text):
            return section
    return None


def classify(sentence: str) -> str:
    """The section a sentence goes to by the rules alone (病情分析 when nothing matches)."""
    return _vote(sentence) or "病情分析"


def _clause_groups(text: str) -> list[str]:
    """The clauses of `text`, a condition joined to the clauses after it up to its consequence:
    "如果出现发热，" "气喘，" "建议及时就医" -> one group (at most MAX_CONDITION clauses)."""
    clauses = [c for sentence in split_sentences(text) for c in split_clauses(sentence)]
    groups, i = [], 0
    while i < len(clauses):
        j = i + 1
        if _HAS_CONDITION.search(clauses[i]):  # "如果…", "服药后若…": the condition waits for its consequence
            end = None
            for k in range(i + 1, min(i + 1 + MAX_CONDITION, len(clauses))):
                if _GROUP_START.search(clauses[k]):
                    break  # a new condition: the first one had its consequence in its own clause
                if _CONSEQUENCE.match(clauses[k]):
                    end = k
                    break
            j = end + 1 if end is not None else min(i + 2, len(clauses))
        groups.append("".join(clauses[i:j]))
        i = j
    return groups


def _votes(text: str) -> list[str]:
    """The section each clause group of `text` names, in order (groups no rule matches give none)."""
    return [section for section in (_rule(group) for group in _clause_groups(text)) if section]


def _vote(text: str, votes: Optional[list[str]] = None) -> str | None:
    """The section most clause groups name, ties to the one named first; None when none is."""
    votes = _votes(text) if votes is None else votes
    if not votes:
        return None
    counts = Counter(votes)
    top = max(counts.values())
    return next(section for section in votes if counts[section] == top)


@dataclass
class _Sentence:
    piece: Piece
    label: str | None  # the labelled run it belongs to


def _free_text_sentences(answer: str, start: int, end: int, dropped: list[Piece]) -> list[_Sentence]:
    """The sentences of answer[start:end] with their labelled run; labels, greetings and sign-offs go to
    `dropped` (as pieces of the answer)."""
    out, label = [], None
    for piece in _sentence_pieces(answer[start:end], start):
        a, b = piece.start, piece.end
        text = answer[a:b]
        match = _LABEL.match(text)
        if match:
            label = _LABELS[match.group(1)]
            dropped.append(Piece(a, a + match.end(), "dropped"))
            a += match.end()
        stripped = answer[a:b].strip()
        if _GREETING.match(stripped) or _SIGNOFF.match(stripped):
            dropped.append(Piece(a, b, "dropped"))
            continue
        greeting = _LEADING_GREETING.match(answer[a:b])
        if greeting:
            dropped.append(Piece(a, a + greeting.end(), "dropped"))
            a += greeting.end()
        signoff = _TRAILING_SIGNOFF.search(answer[a:b])
        if signoff:
            dropped.append(Piece(a + signoff.start() + 1, b, "dropped"))
            b = a + signoff.start() + 1
        if _WORD.search(answer[a:b]):
            out.append(_Sentence(Piece(a, b), label))
        elif a < b:
            dropped.append(Piece(a, b, "dropped"))
    return out


def _is_item(text: str) -> bool:
    return bool(_ITEM_START.match(text) or _ITEM_AFTER_COLON.search(text))


def _item_follows_on_line(answer: str, sentences: list[_Sentence], j: int) -> bool:
    """Whether sentence j is on the line of the one before it and another item starts later on that line
    (so it belongs to the item before it, not after the list)."""
    if "\n" in answer[sentences[j - 1].piece.start:sentences[j].piece.start]:
        return False
    for later, before in zip(sentences[j + 1:], sentences[j:]):
        if "\n" in answer[before.piece.start:later.piece.start]:
            return False
        if _ITEM_START.match(answer[later.piece.start:later.piece.end]):
            return True
    return False


def _adjacent(sentences: list[_Sentence], j: int) -> bool:
    """Whether sentence j starts where sentence j-1 ends (no dropped greeting or sign-off between: a unit
    is one slice of the answer)."""
    return sentences[j].piece.start == sentences[j - 1].piece.end


def _units(answer: str, sentences: list[_Sentence]) -> list[_Sentence]:
    """Sentences grouped into units: a numbered list with its items and lead-in, a condition-only
    sentence with the sentence after it."""
    units: list[_Sentence] = []
    i = 0
    while i < len(sentences):
        first = sentences[i]
        j = i + 1
        text = answer[first.piece.start:first.piece.end]
        if _is_item(text) or (_LEAD_IN.search(text.strip()) and j < len(sentences)
                              and _ITEM_START.match(answer[sentences[j].piece.start:sentences[j].piece.end])):
            while j < len(sentences) and _adjacent(sentences, j):  # the list goes on: the next item, or more
                nxt = sentences[j].piece                             # of an item before the next one
                if not (_ITEM_START.match(answer[nxt.start:nxt.end]) or _item_follows_on_line(answer, sentences, j)):
                    break
                j += 1
        elif is_condition_only(text) and j < len(sentences) and _adjacent(sentences, j):
            j += 1
        units.append(_Sentence(Piece(first.piece.start, sentences[j - 1].piece.end), first.label))
        i = j
    return units


def _place(answer: str, units: list[_Sentence], forced: dict[int, str]) -> list[tuple[str, Piece]]:
    """(section, unit) for each unit: the header it was under (`forced`, by start), else the rules."""
    pairs, previous = [], None
    for unit in units:
        text = answer[unit.piece.start:unit.piece.end]
        section = forced.get(unit.piece.start)
        if section is None:
            votes = _votes(text)
            section = _vote(text, votes)
            if unit.label and not (votes and set(votes) <= {section} and section in _OVERRIDE_LABEL):
                section = unit.label
            section = section or previous or "病情分析"
        pairs.append((section, unit.piece))
        previous = section
    free = [unit.piece.start not in forced and not unit.label for unit in units]
    return _fill_empty(answer, pairs, free)


def _fill_empty(answer: str, pairs: list[tuple[str, Piece]], free: list[bool]) -> list[tuple[str, Piece]]:
    """A content section left empty takes a whole unit that names its topic among others, from a section
    that keeps another unit: "平时饮食清淡，少吃辛辣，可以服用胃药。" is advice by majority, but when 药物说明
    would get a placeholder and 指导建议 has another sentence, it goes to 药物说明. The unit with the largest
    share of votes for the section moves (ties: the earliest); units under a header or an author's label stay."""
    sections = [section for section, _ in pairs]
    votes = [_votes(answer[piece.start:piece.end]) for _, piece in pairs]
    for target in CONTENT:
        if target in sections:
            continue
        best, best_share = None, 0.0
        for i, (section, unit_votes) in enumerate(zip(sections, votes)):
            if free[i] and target in unit_votes and section in CONTENT and sections.count(section) > 1:
                share = unit_votes.count(target) / len(unit_votes)
                if share > best_share:
                    best, best_share = i, share
        if best is not None:
            sections[best] = target
    return [(section, piece) for section, (_, piece) in zip(sections, pairs)]


def units_of(answer: str) -> tuple[list[str], list[str]]:
    """(units, dropped) of an answer without headers: what the rules, or a model, assign to sections."""
    dropped: list[Piece] = []
    units = _units(answer, _free_text_sentences(answer, 0, len(answer), dropped))
    return [answer[u.piece.start:u.piece.end] for u in units], [answer[p.start:p.end].strip() for p in dropped]


def _placeholder_texts(placeholders: dict[str, str] | None) -> dict[str, str]:
    texts = dict(DEFAULT_PLACEHOLDERS)
    for name, text in (placeholders or {}).items():
        if name not in texts:
            raise ValueError(f"unknown section {name!r}; sections are {', '.join(SECTIONS)}")
        if not text.strip():
            raise ValueError(f"placeholder for {name} is empty")
        texts[name] = text.strip()
    return texts


def _bodies(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Each section's units joined in their order, the outer whitespace stripped."""
    joined = {name: "" for name in SECTIONS}
    for name, unit in pairs:
        joined[name] += unit
    return {name: text.strip() for name, text in joined.items()}


def assemble(pairs: list[tuple[str, str]], dropped: list[str],
             placeholders: dict[str, str] | None = None) -> tuple[str, dict]:
    """The five-section text from (section, original text) pairs, in their order within each section;
    placeholders for sections without text, "not placed" where another section's unit is on its topic."""
    texts = _placeholder_texts(placeholders)
    bodies = _bodies(pairs)
    topics = {section for _, unit in pairs for section in _votes(unit)}
    blocks, empty, elsewhere = [], [], []
    for name in SECTIONS:
        body = bodies[name]
        if not body:
            empty.append(name)
            if name in topics:
                elsewhere.append(name)
            body = NOT_PLACED[name] if name in topics and name not in (placeholders or {}) else texts[name]
        blocks.append(f"【{name}】\n{body}")
    report = {"unchanged": False, "units": {n: sum(s == n for s, _ in pairs) for n in SECTIONS}, "empty": empty,
              "not_placed": elsewhere, "disclaimer": "found" if bodies["免责声明"] else "standard",
              "dropped": dropped, "condition_splits": condition_splits(pairs), "list_splits": list_splits(pairs)}
    return "\n".join(blocks), report


def condition_splits(pairs: list[tuple[str, str]]) -> int:
    """Conditions ("如果…", "若…", "…的话") whose completing clause went to another section: a unit
    ending in a condition clause whose next unit (in the answer's order) is under another header."""
    split = 0
    for (section, unit), (next_section, _) in zip(pairs, pairs[1:]):
        sentences = split_sentences(unit)
        if sentences and is_condition_only(sentences[-1]) and next_section != section:
            split += 1
    return split


def list_splits(pairs: list[tuple[str, str]]) -> int:
    """Numbered lists cut across sections: a unit whose first item number follows the last item number
    of the unit before it, under another header."""
    split = 0
    for (section, unit), (next_section, nxt) in zip(pairs, pairs[1:]):
        last = [int(a or b) for a, b in _ITEM_NUMBER.findall(unit)]
        first = [int(a or b) for a, b in _ITEM_NUMBER.findall(nxt)]
        if last and first and first[0] == last[-1] + 1 and next_section != section:
            split += 1
    return split


def faithful(answer: str, placed: list[tuple[str, Piece]], others: list[Piece], text: str) -> bool:
    """True when the units, dropped pieces and headers, in the answer's order, rebuild it exactly, and each
    section of `text` without a placeholder holds exactly its units joined (nothing edited, nothing lost)."""
    pieces = sorted([p for _, p in placed] + others, key=lambda p: p.start)
    if "".join(answer[p.start:p.end] for p in pieces) != answer:
        return False
    parts = _HEADER.split(text)
    got = dict(zip(parts[1::2], (body.strip() for body in parts[2::2])))
    want = _bodies([(section, answer[p.start:p.end]) for section, p in placed])
    return all(got.get(name) == body for name, body in want.items() if body)


def restructure(answer: str, placeholders: dict[str, str] | None = None) -> tuple[str, dict]:
    """(five-section text, report); see the module docstring for the rules."""
    _placeholder_texts(placeholders)  # a bad placeholder is an error even for an unchanged answer
    if has_five_sections(answer):
        parts = _HEADER.split(answer)[1:]           # [name, body, name, body, ...]
        counts = {name: len(split_sentences(body)) for name, body in zip(parts[::2], parts[1::2])}
        return answer, {"unchanged": True, "units": counts, "empty": [n for n in SECTIONS if counts[n] == 0],
                        "not_placed": [], "disclaimer": "found" if counts["免责声明"] else "none", "dropped": [],
                        "faithful": True, "condition_splits": 0, "list_splits": 0}
    dropped: list[Piece] = []
    headers = [Piece(m.start(), m.end(), "header") for m in _HEADER.finditer(answer)]
    sentences = _free_text_sentences(answer, 0, headers[0].start if headers else len(answer), dropped)
    units, forced = _units(answer, sentences), {}
    for header, nxt in zip(headers, headers[1:] + [Piece(len(answer), len(answer))]):
        under = [_Sentence(p, None) for p in _sentence_pieces(answer[header.end:nxt.start], header.end)]
        if under and not _WORD.search(answer[under[0].piece.start:under[0].piece.end]):
            dropped.append(under.pop(0).piece)
        units += under
        forced.update({s.piece.start: answer[header.start + 1:header.end - 1] for s in under})
        if header.end < nxt.start and not under:
            dropped.append(Piece(header.end, nxt.start, "dropped"))  # whitespace alone under a header
    placed = _place(answer, units, forced)
    text, report = assemble([(section, answer[p.start:p.end]) for section, p in placed],
                            [answer[p.start:p.end].strip() for p in sorted(dropped, key=lambda p: p.start)],
                            placeholders)
    report["faithful"] = faithful(answer, placed, dropped + headers, text)
    return text, report


def has_five_sections(answer: str) -> bool:
    return _HEADER.findall(answer) == list(SECTIONS)


def is_follow_up(answer: str) -> bool:
    """An answer that ends by asking the patient something ("发烧几天了？有没有咳嗽？"): a doctor's
    follow-up question in a consultation, not advice. The five sections do not fit it."""
    return answer.rstrip().rstrip("\"'”’）)").endswith(("？", "?"))


def has_headers(answer: str) -> bool:
    """True when the answer already has any 【section】 header (its author sorted some text)."""
    return bool(_HEADER.search(answer))


def tally(counter: Counter, report: dict) -> None:
    """Add one restructured answer's report to `counter` (see fill_rates)."""
    counter["answers"] += 1
    counter["unchanged"] += report["unchanged"]
    counter["standard_disclaimer"] += report["disclaimer"] == "standard"
    if "faithful" in report:  # the rules check it; a model's assignment (five_section_llm.py) is not checked
        counter["checked"] += 1
        counter["faithful"] += report["faithful"]
    counter["condition_splits"] += report.get("condition_splits", 0)
    counter["list_splits"] += report.get("list_splits", 0)
    single = sum(report["units"].values()) == 1  # one unit: no rule can fill two sections without cutting it
    for name in SECTIONS:
        counter[f"empty:{name}"] += name in report["empty"]
        counter[f"not_placed:{name}"] += name in report.get("not_placed", [])
        counter[f"not_placed_single:{name}"] += name in report.get("not_placed", []) and single


def fill_rates(counter: Counter) -> dict:
    """{answers, filled: {section: share with text of its own}, nothing: {section: share with a placeholder
    because the answer says nothing on its topic}, not_placed: {section: share with a placeholder although
    another section's sentence is on its topic}, not_placed_single: {section: the part of not_placed in answers
    that are one unit, which only cutting a sentence could place}, placeholder_share (of the four content sections),
    standard_disclaimer_share, unchanged (answers that already had the five headers), faithful (share of
    the rules' answers passing the faithfulness check; None when none was checked), condition_splits and list_splits (counts), llm_fallbacks}; shares in 0..1."""
    n = counter["answers"]
    if not n:
        return {"answers": 0, "filled": {}, "nothing": {}, "not_placed": {}, "not_placed_single": {},
                "placeholder_share": 0.0,
                "standard_disclaimer_share": 0.0, "unchanged": 0, "faithful": None, "condition_splits": 0,
                "list_splits": 0, "llm_fallbacks": 0}
    empties = sum(counter[f"empty:{name}"] for name in CONTENT)
    return {"answers": n, "filled": {name: 1 - counter[f"empty:{name}"] / n for name in CONTENT},
            "nothing": {name: (counter[f"empty:{name}"] - counter[f"not_placed:{name}"]) / n for name in CONTENT},
            "not_placed": {name: counter[f"not_placed:{name}"] / n for name in CONTENT},
            "not_placed_single": {name: counter[f"not_placed_single:{name}"] / n for name in CONTENT},
            "placeholder_share": empties / (len(CONTENT) * n),
            "standard_disclaimer_share": counter["standard_disclaimer"] / n,
            "unchanged": counter["unchanged"],
            "faithful": counter["faithful"] / counter["checked"] if counter["checked"] else None,
            "condition_splits": counter["condition_splits"], "list_splits": counter["list_splits"],
            "llm_fallbacks": counter["llm_fallback"]}
