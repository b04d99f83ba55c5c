"""Restructuring of a free-text medical answer into the five sections

    【病情分析】 【指导建议】 【药物说明】 【风险提示】 【免责声明】

one header per line, its text on the next line (the layout of data/samples/qa.jsonl),
by moving the answer's own clauses -- never by writing new ones.

Real answers (the Toyhom dialogue CSVs, cMedQA2, MedicalGPT's corpus) are long sentences
joined by commas: "你好，考虑是慢性咽炎，平时多喝水，可以口服金嗓子喉片，如果症状持续不缓解，
建议及时就诊，以上意见仅供参考。" Sorting whole sentences put such an answer under one
header (and an answer ending "以上意见仅供参考" entirely under 【免责声明】), so the unit
here is the clause.

restructure(answer, placeholders=None):
  1. An answer that already contains each of the five headers exactly once, in this order,
     is returned unchanged (byte for byte).
  2. Text under a 【header】 stays in that section. Other text is split into sentences
     (after 。！？!?；; and closing quotes, an English "." before a space or the end -- not
     "38.5" -- and at every line break), then into clauses after ， and "," (not "1,000").
  3. A sentence opening with an author's label ("病情分析：", "指导意见：", "建议：", ...) starts
     a labelled run: its label is dropped (the header replaces it) and later clauses default
     to that section. Clauses that are nothing but a greeting or sign-off (你好 谢谢
     祝早日康复 希望对你有帮助) are dropped. Both are listed in the report's "dropped".
  4. Clauses are grouped into units: a clause opening with a condition (如果 若 一旦
     必要时 ...) is joined with the clause after it ("如果症状持续不缓解，建议及时就诊，").
     Each unit goes to the section of the FIRST matching rule in RULES:
       免责声明  仅供/仅作…参考, 不能替代/代替 + 医生/面诊/诊疗..., 以…为准
       风险提示  alarm words (及时就医 急诊 警惕 拨打120 注意观察 以免 否则 严重时 并发症 ...)
                 or a condition followed by an escalation (加重 持续 不缓解 就医 检查 ...);
                 before 药物说明: "服药后若出现皮疹应立即停药就医" is a warning,
                 "如体温超过38.5℃，可服用布洛芬" stays a drug note
       药物说明  drug names and name endings (霉素 西林 沙星 拉唑 ...), dosage forms (片剂 胶囊
                 颗粒 软膏, "XX片" but not 胸片/拍片), administration (口服 服用 用药 外用 注射),
                 药 (not 药店/药房/药师), doses with a unit ("10mg", "2片"), 剂量, 说明书
       指导建议  a unit that STARTS like an instruction (建议 应 需 请 可 尽量 避免 不要 注意 ...)
       病情分析  explanation words (考虑 可能性 提示 多为 常见 诊断 有关 引起 导致 原因 ...)
       指导建议  advice words anywhere (建议 应该 需要 避免 休息 多喝水 饮食 清淡 锻炼 复查 ...)
     A unit no rule matches continues the section of the unit before it in the same
     sentence; at the start of a sentence it goes to the labelled run's section, else to
     病情分析. Frequencies and courses alone (每天两次, 每次10分钟, 一个疗程) are WEAK: they
     follow a drug unit into 药物说明 and otherwise continue like an unmatched unit, so
     "给宝宝做抚触按摩，每天两次" stays advice. In a labelled run only the 免责声明, 风险提示
     and 药物说明 rules override the label.
  5. Units keep their original order and wording; the last clause of a section ending in
     ，,；;、 gets 。 (or "." after ASCII text) -- the only punctuation edit.
  6. Never invent content: a section that received nothing gets a fixed, configurable
     placeholder (DEFAULT_PLACEHOLDERS). Placeholders and the standard disclaimer are the ONLY
     text ever added; 【免责声明】 gets the standard disclaimer unless the answer had one.

The report: {"unchanged": bool, "clauses": {section: units}, "empty": [sections that got a
placeholder], "disclaimer": "found" | "standard" ("none" only for an unchanged answer whose
disclaimer section is empty), "dropped": [greetings and labels removed]}.
tally(counter, report) and fill_rates(counter) sum reports into the data report's figures:
per-section fill rates and the placeholder share of the four content sections (the
disclaimer is counted apart: the standard one is added by design, not for want of text).
classify(sentence) is the rule lookup alone (病情分析 when nothing matches). units_of() and
assemble() are the two halves the model-assisted mode (five_section_llm.py) reuses: the same
units, and an answer built from original text only.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterator

from core.answer_format import SECTIONS  # noqa: E402
DEFAULT_PLACEHOLDERS = {
    "病情分析": "暂无具体病情分析，请结合医生面诊情况判断。",
    "指导建议": "暂无具体指导建议，请遵医嘱。",
    "药物说明": "暂无具体用药建议，请在医生指导下用药。",
    "风险提示": "暂无特别风险提示，如有不适请及时就医。",
    "免责声明": "以上内容仅供参考，不能替代医生面诊，具体诊疗请遵医嘱。",  # the standard disclaimer
}

_HEADER = re.compile("【(" + "|".join(SECTIONS) + ")】")
_END = re.compile(r"[。！？!?；;]+[”’」』）)\"']*|(?<![\d.])\.(?=\s|$)[\"']*")
_WORD = re.compile(r"\w")
_GREETING = re.compile(r"^(?:医生|大夫)?(?:你好|您好|谢谢|感谢(?:您|你)?的?(?:提问|咨询|信任)|"
                       r"祝(?:您|你)?.{0,6}(?:健康|康复|顺利|愉快))[！!。.，,~～]*$")

_CJK = r"[\u4e00-\u9fff]"
_COND = r"(?:^如|如果|若|一旦|假如|要是|万一|倘若|必要时|如(?=[有出仍果症持发伴病高反]))"
_ESCALATE = (r"(?:加重|持续|不缓解|未缓解|无缓解|没有缓解|不见好|无好转|未好转|没有好转|恶化|反复|"
             r"就医|就诊|复诊|复查|检查|医院|急诊|紧急|立即|马上|尽快|尽早|及时|急救|专业帮助|不消|不退|手术)")
# (section, pattern) in priority order; the first match wins, no match -> 病情分析.
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
    # explanation words: such a sentence stays in 病情分析 even if it mentions 检查/饮食/...
    ("病情分析", re.compile(r"考虑|可能性|的可能|可能[与由是为存]|提示|多为|多由|多见|常见|典型|诊断|有关|相关|"
                           r"引起|导致|属于|怀疑|表现为?|原因|因素|容易")),
    ("指导建议", re.compile(
        r"建议|应该|应当|最好|需要|可以|可(?:改|用|在|到|先|适当|练习|考虑|以)|避免|不要|尽量|适当|"
        r"注意休息|多喝水|多饮水|休息|饮食|清淡|忌口|少食多餐|戒烟|戒酒|锻炼|运动|作息|熬夜|复查|随访|"
        r"检查(?!结果|显示|报告|提示)|保持|减少|少吃|多吃|控制|监测|记录")),
]


CONTENT = SECTIONS[:4]              # sections filled from the answer's text; the disclaimer is apart
_CLAUSE = re.compile(r"[，]|(?<!\d),(?!\d)")
_TRAILING = "，,；;、"
_LABELS = {"病情分析": "病情分析", "分析": "病情分析", "指导意见": "指导建议", "意见建议": "指导建议",
           "医生建议": "指导建议", "治疗建议": "指导建议", "处理意见": "指导建议", "建议": "指导建议",
           "用药建议": "药物说明", "温馨提示": "风险提示", "注意事项": "风险提示"}
_LABEL = re.compile(r"^(" + "|".join(sorted(_LABELS, key=len, reverse=True)) + r")\s*[:：]\s*")
# how the consequence of a condition starts: "如果……，建议/要/需/请/应/立即/及时/可……"
_CONSEQUENCE = re.compile(r"^(?:则|就|建议|要|需|请|应|必须|一定|务必|立即|立刻|马上|及时|尽快|尽早|可|最好|均|都|再)")
MAX_CONDITION = 5                   # clauses a condition may span before its consequence
# a clause that only goes on with the one before it: "(考虑胃炎，)和饮食不规律有关", "(查骨龄，)生长激素，"
_JOINS = re.compile(r"^(?:和|与|跟|及|以及|或|或者|并且|等)")
_SHORT = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]{1,5}[，,、]?$")
_GROUP_START = re.compile(r"^(?:如果|若|一旦|假如|要是|万一|倘若|如(?=[有出仍果症持发伴病高反]))")
_SIGNOFF = re.compile(r"^(?:希望|期望|愿)(?:以上|我的)?.{0,10}(?:帮助|协助|有用)[！!。.，,~～]*$")
# dose frequencies and courses: a drug note after a drug, else (massage, exercise) advice
_WEAK_DRUG = re.compile(r"每次\s*(?:\d+(?:\.\d+)?|[一二两三半])\s*(?:片|粒|袋|支|mg|毫克|滴|喷|ml|毫升|克|g)|"
                        r"[一每][日天]\s*[\d一二两三四]\s*次|疗程")
_INSTRUCTION = next(pattern for section, pattern in RULES if pattern.pattern.startswith("^(?:建议"))
_CJK_CHAR = re.compile(_CJK)
_OVERRIDE_LABEL = ("免责声明", "风险提示", "药物说明")


def split_sentences(text: str) -> list[str]:
    """Sentences with their closing punctuation; line breaks always end a sentence."""
    out = []
    for line in text.splitlines():
        start = 0
        for match in _END.finditer(line):
            out.append(line[start:match.end()].strip())
            start = match.end()
        out.append(line[start:].strip())
    return [s for s in out if _WORD.search(s)]   # drops "" and punctuation-only pieces


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
    """The section a free-text sentence goes to by the rules alone (病情分析 when none matches)."""
    return _rule(sentence) or "病情分析"


def _units(clauses: list[str]) -> list[str]:
    """Clauses, with a condition joined to the clauses after it up to its consequence:
    "如果出现发热，" "气喘，" "建议及时就医" -> one unit (at most MAX_CONDITION clauses)."""
    units, i = [], 0
    while i < len(clauses):
        j = i + 1
        if _GROUP_START.search(clauses[i]):
            ends = []
            for k in range(i + 1, min(i + 1 + MAX_CONDITION, len(clauses))):
                if _GROUP_START.search(clauses[k]):
                    break  # a new condition: the first one had its consequence in its own clause
                if _CONSEQUENCE.match(clauses[k]):
                    ends.append(k)
                    break
            j = ends[0] + 1 if ends else min(i + 2, len(clauses))  # no consequence marker: the next clause
        units.append("".join(clauses[i:j]))
        i = j
    return units


def _sentences(body: str, dropped: list[str]) -> Iterator[tuple[str | None, list[str]]]:
    """(label of the run, units) per sentence of free text; greetings and labels go to `dropped`."""
    label = None
    for sentence in split_sentences(body):
        match = _LABEL.match(sentence)
        if match:
            label = _LABELS[match.group(1)]
            dropped.append(match.group())
            sentence = sentence[match.end():]
        clauses = []
        for clause in split_clauses(sentence):
            if _GREETING.match(clause) or _SIGNOFF.match(clause):
                dropped.append(clause)
            else:
                clauses.append(clause)
        yield label, _units(clauses)


def units_of(answer: str) -> tuple[list[str], list[str]]:
    """(units, dropped) of an answer without headers: what the rules, or a model, assign to sections."""
    dropped: list[str] = []
    units = [unit for _, group in _sentences(answer, dropped) for unit in group]
    return units, dropped


def _assign_free_text(body: str, dropped: list[str]) -> list[tuple[str, str]]:
    """(section, unit) for the free text of an answer, by the rules (module docstring, 3-4)."""
    pairs = []
    for label, units in _sentences(body, dropped):
        previous = None
        for unit in units:
            allowed = _OVERRIDE_LABEL if label else SECTIONS
            if previous and _JOINS.match(unit):
                allowed = ("免责声明", "风险提示")
            elif previous and _SHORT.match(unit) and not _INSTRUCTION.match(unit):
                allowed = ("免责声明", "风险提示", "药物说明")
            section = _rule(unit, allowed)
            if previous == "药物说明" and _WEAK_DRUG.search(unit) and section not in ("免责声明", "风险提示"):
                section = "药物说明"  # "每天三次" after a drug is its dose, not advice starting with 每
            section = section or previous or label or "病情分析"
            pairs.append((section, unit))
            previous = section
    return pairs


def _join(units: list[str]) -> str:
    body = ""
    for unit in units:
        body += (" " if body and body[-1] in ".!?;:," else "") + unit
    if body and body[-1] in _TRAILING:
        body = body[:-1] + ("。" if _CJK_CHAR.search(body) else ".")
    return body


def _placeholder_texts(placeholders: dict[str, str] | None) -> dict[str, str]:
    texts = dict(DEFAULT_PLACEHOLDERS)
    for name, text in (placeholders or {}).items():
        if name not in texts:
            raise ValueError(f"unknown section {name!r}; sections are {', '.join(SECTIONS)}")
        if not text.strip():
            raise ValueError(f"placeholder for {name} is empty")
        texts[name] = text.strip()
    return texts


def assemble(pairs: list[tuple[str, str]], dropped: list[str],
             placeholders: dict[str, str] | None = None) -> tuple[str, dict]:
    """The five-section text from (section, original text) pairs, in their order within each section;
    placeholders for sections without text. The only text it adds are placeholders and punctuation."""
    texts = _placeholder_texts(placeholders)
    sections: dict[str, list[str]] = {name: [] for name in SECTIONS}
    for name, unit in pairs:
        sections[name].append(unit)
    blocks, empty = [], []
    for name in SECTIONS:
        if sections[name]:
            body = _join(sections[name])
        else:
            body = texts[name]
            empty.append(name)
        blocks.append(f"【{name}】\n{body}")
    report = {"unchanged": False, "clauses": {n: len(sections[n]) for n in SECTIONS}, "empty": empty,
              "disclaimer": "found" if sections["免责声明"] else "standard", "dropped": dropped}
    return "\n".join(blocks), report


def restructure(answer: str, placeholders: dict[str, str] | None = None) -> tuple[str, dict]:
    """(five-section text, report); see the module docstring for the rules."""
    _placeholder_texts(placeholders)  # a bad placeholder is an error even for an unchanged answer
    if has_five_sections(answer):
        parts = _HEADER.split(answer)[1:]           # [name, body, name, body, ...]
        counts = {name: len(split_sentences(body)) for name, body in zip(parts[::2], parts[1::2])}
        return answer, {"unchanged": True, "clauses": counts,
                        "empty": [n for n in SECTIONS if counts[n] == 0],
                        "disclaimer": "found" if counts["免责声明"] else "none", "dropped": []}
    dropped: list[str] = []
    parts = _HEADER.split(answer)                   # [free text, name, body, name, body, ...]
    pairs = _assign_free_text(parts[0], dropped)
    for name, body in zip(parts[1::2], parts[2::2]):
        pairs += [(name, sentence) for sentence in split_sentences(body)]
    return assemble(pairs, dropped, placeholders)


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
    for name in SECTIONS:
        counter[f"empty:{name}"] += name in report["empty"]


def fill_rates(counter: Counter) -> dict:
    """{answers, filled: {section: share with text of its own}, placeholder_share (of the four
    content sections), standard_disclaimer_share, unchanged (answers that already had the five
    headers), llm_fallbacks}; shares in 0..1."""
    n = counter["answers"]
    if not n:
        return {"answers": 0, "filled": {}, "placeholder_share": 0.0, "standard_disclaimer_share": 0.0,
                "unchanged": 0, "llm_fallbacks": 0}
    empties = sum(counter[f"empty:{name}"] for name in CONTENT)
    return {"answers": n, "filled": {name: 1 - counter[f"empty:{name}"] / n for name in CONTENT},
            "placeholder_share": empties / (len(CONTENT) * n),
            "standard_disclaimer_share": counter["standard_disclaimer"] / n,
            "unchanged": counter["unchanged"], "llm_fallbacks": counter["llm_fallback"]}
