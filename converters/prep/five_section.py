"""Rule-based restructuring of a free-text medical answer into the five sections

    【病情分析】 【指导建议】 【药物说明】 【风险提示】 【免责声明】

one header per line, its text on the next line (the layout of data/samples/qa.jsonl).

Rules, applied by restructure(answer, placeholders=None):
  1. An answer that already contains each of the five headers exactly once, in
     this order, is returned unchanged (byte for byte).
  2. Otherwise any of the five headers present are honoured: their text stays in
     that section. Text outside a header (typically all of it) is split into
     sentences after 。！？!?；; (plus closing quotes/brackets), an English "."
     followed by a space or the end (not "38.5"), and at every line break.
  3. Sentences that are nothing but a greeting or sign-off (您好！ 谢谢。
     祝早日康复！) are dropped and listed in the report; nothing else is dropped.
  4. Each remaining sentence goes to the section of the FIRST matching rule in
     RULES, in this priority order, and to 病情分析 when none matches:
       免责声明  仅供/仅作…参考, 不能替代/代替 + 医生/面诊/诊疗..., 以…为准
                 (a disclaimer is never advice).
       风险提示  an alarm word (及时就医 立即就医 急诊 警惕 拨打120 急救电话 注意观察 ...)
                 or a condition (a leading 如, 如果 若 一旦 万一 如有/如出现/如持续 ...)
                 followed by an escalation (加重 持续 不缓解 恶化 反复 就医 就诊 检查
                 医院 立即 及时 尽快 ...). Before 药物说明: "服药后若出现皮疹应立即
                 停药就医" is a warning; "如体温超过38.5℃，可服用布洛芬" stays a drug note.
       药物说明  drug names (布洛芬 阿莫西林 ...), name endings (霉素 西林 沙星 拉唑 他定
                 地平 普利 沙坦 他汀 ...), dosage forms (片剂 胶囊 颗粒 混悬液 软膏 ...,
                 "XX片" but not 胸片/拍片/切片), administration (口服 服用 用药 外用
                 注射 ...), 药 (not 药店/药房/药师), doses ("10mg", "2片", "每次1片",
                 "一日3次", 剂量 疗程 说明书). Bare 克/毫升 only count after 每次:
                 "每天饮水2000毫升" is fluid advice, not a dose.
       指导建议  a sentence that STARTS like an instruction (建议 应 需 请 可 尽量 避免
                 不要 注意 多喝 保持 定期 每 ...).
       病情分析  explanation words (考虑 可能性 提示 多为 常见 典型 诊断 有关 引起 导致
                 表现 原因 容易 ...): keeps "…考虑咽炎，与熬夜饮食有关" out of advice.
       指导建议  advice words anywhere (建议 应该 需要 可以 避免 休息 多喝水 饮食 清淡
                 锻炼 复查, 检查 unless followed by 结果/显示/报告/提示 ...).
     Keyword rules are deliberately simple: a sentence mixing advice and a drug
     lands in the higher-priority section only, it is never split. On the 468
     sentences of data/samples/qa.jsonl (which the rules were tuned on, so an
     optimistic figure) 92% land in the section their author chose.
  5. Sentences keep their original order and wording; a section's last sentence
     ending in ；/; gets 。/. instead (the only punctuation edit).
  6. Never invent content: a section that received no sentence gets a fixed,
     configurable placeholder (DEFAULT_PLACEHOLDERS; e.g. 药物说明 ->
     "暂无具体用药建议，请在医生指导下用药。"). These placeholders and the standard
     disclaimer are the ONLY text ever added. 【免责声明】 always gets the standard
     disclaimer unless the answer had a disclaimer sentence, which then goes there.

The report: {"unchanged": bool, "sentences": {section: count}, "empty": [sections
that got a placeholder], "disclaimer": "found" | "standard" ("none" only for an
unchanged answer whose disclaimer section is empty), "dropped": [sentences]}.
"""
from __future__ import annotations

import re

SECTIONS = ("病情分析", "指导建议", "药物说明", "风险提示", "免责声明")
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
_COND = r"(?:^如|如果|若|一旦|假如|要是|万一|倘若|如(?=[有出仍果症持发伴病高反]))"
_ESCALATE = (r"(?:加重|持续|不缓解|未缓解|无缓解|没有缓解|不见好|无好转|未好转|没有好转|恶化|反复|"
             r"就医|就诊|复诊|检查|医院|急诊|紧急|立即|马上|尽快|尽早|及时|急救|专业帮助)")
# (section, pattern) in priority order; the first match wins, no match -> 病情分析.
RULES: list[tuple[str, re.Pattern]] = [
    ("免责声明", re.compile(r"仅[供作].{0,6}参考|(?:不能|无法|不可)(?:替代|代替).{0,6}(?:医生|医师|面诊|诊疗|就医|诊断|专业)"
                           r"|以.{0,12}为准")),
    ("风险提示", re.compile(
        r"及时就医|立即就医|尽快就医|马上就医|及早就医|及时就诊|立即就诊|尽快就诊|急诊|警惕|拨打120|急救电话|"
        rf"危及生命|切勿拖延|注意观察|密切观察|{_COND}.*?{_ESCALATE}")),
    ("药物说明", re.compile(
        r"布洛芬|对乙酰氨基酚|阿莫西林|头孢|阿奇霉素|奥美拉唑|氯雷他定|西替利嗪|二甲双胍|阿司匹林|胰岛素|"
        r"青霉素|甲硝唑|蒙脱石散|益生菌|泼尼松|地塞米松|连花清瘟|板蓝根|藿香正气|"
        rf"{_CJK}(?:霉素|西林|沙星|拉唑|他定|洛尔|地平|普利|沙坦|他汀|替丁|康唑|洛韦|米松|的松|替尼)|"
        r"片剂|药片|胶囊|颗粒|冲剂|口服液|糖浆|混悬液|滴剂|软膏|乳膏|药膏|凝胶|滴眼液|眼药水|喷剂|气雾剂|吸入剂|"
        r"栓剂|贴剂|注射液|含漱液|漱口水|"
        rf"(?<={_CJK})(?<![胸拍照平底卡名图相切膜刀])片(?=[，,。；;、）)\s]|$)|"
        r"口服|服用|服药|吃药|用药|外用|外涂|含服|冲服|注射|输液|雾化|抗生素|(?<![雌孕性腺])激素|抗病毒|抗组胺|"
        r"药(?![店房师])|"
        r"\d+(?:\.\d+)?\s*(?:mg|毫克|μg|微克|IU|国际单位|片|粒|袋|支)|(?<!低)剂量|疗程|说明书|"
        r"每次\s*(?:\d+(?:\.\d+)?|[一二两三半])\s*(?:片|粒|袋|支|mg|毫克|滴|喷|ml|毫升|克|g)|"
        r"[一每][日天]\s*[\d一二两三四]\s*次")),
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


def classify(sentence: str) -> str:
    """The section a free-text sentence goes to (first matching pattern in RULES)."""
    for section, pattern in RULES:
        if pattern.search(sentence):
            return section
    return "病情分析"


def has_five_sections(answer: str) -> bool:
    found = _HEADER.findall(answer)
    return found == list(SECTIONS)


def _join(sentences: list[str]) -> str:
    body = ""
    for s in sentences:
        body += (" " if body and body[-1] in ".!?;:," else "") + s
    if body.endswith("；"):
        body = body[:-1] + "。"
    elif body.endswith(";"):
        body = body[:-1] + "."
    return body


def restructure(answer: str, placeholders: dict[str, str] | None = None) -> tuple[str, dict]:
    """(five-section text, report); see the module docstring for the rules."""
    texts = dict(DEFAULT_PLACEHOLDERS)
    for name, text in (placeholders or {}).items():
        if name not in texts:
            raise ValueError(f"unknown section {name!r}; sections are {', '.join(SECTIONS)}")
        if not text.strip():
            raise ValueError(f"placeholder for {name} is empty")
        texts[name] = text.strip()

    if has_five_sections(answer):
        parts = _HEADER.split(answer)[1:]           # [name, body, name, body, ...]
        counts = {name: len(split_sentences(body)) for name, body in zip(parts[::2], parts[1::2])}
        return answer, {"unchanged": True, "sentences": counts,
                        "empty": [n for n in SECTIONS if counts[n] == 0],
                        "disclaimer": "found" if counts["免责声明"] else "none", "dropped": []}

    sections: dict[str, list[str]] = {name: [] for name in SECTIONS}
    dropped: list[str] = []
    parts = _HEADER.split(answer)                   # [free text, name, body, name, body, ...]
    labelled = [(None, parts[0])] + list(zip(parts[1::2], parts[2::2]))
    for label, body in labelled:
        for sentence in split_sentences(body):
            if label is None and _GREETING.match(sentence):
                dropped.append(sentence)
                continue
            sections[label or classify(sentence)].append(sentence)

    blocks, empty = [], []
    for name in SECTIONS:
        if sections[name]:
            body = _join(sections[name])
        else:
            body = texts[name]
            empty.append(name)
        blocks.append(f"【{name}】\n{body}")
    report = {"unchanged": False, "sentences": {n: len(sections[n]) for n in SECTIONS}, "empty": empty,
              "disclaimer": "found" if sections["免责声明"] else "standard", "dropped": dropped}
    return "\n".join(blocks), report
