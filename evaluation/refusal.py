"""Does a reply decline to answer? is_refusal(text) -> bool, Chinese and English.

A refusal is the ASSISTANT declining, so a marker like 无法 / 不能 / cannot is not enough:
"如果患者无法回答问题" (the patient cannot answer) and "单凭症状无法提供确切诊断" (no
diagnosis from symptoms alone, then advice) are medical answers. The reply (normalised as
evaluation/extract.py does) is a refusal when any clause is one of:

  1. an inability to HELP or ANSWER whose subject is the assistant or nobody:
       [抱歉/对不起…] [这个问题/您的问题] [我/本助手] [暂时/目前/恐怕…] 无法/不能/不便/没办法/不可以
       + 回答/解答/作答/回复/帮助/帮忙/协助/提供帮助/提供(这方面的|此类|相关)信息/为您提供…
       (not 为您提供确切诊断/具体剂量); also 帮不了/答不上/无能为力/不提供此类…
     checked on the clause (text after the last 。，,；;！？!? or line break): the words before
     the negation must be only such apology, topic and first-person words, so "患者无法回答"
     and "单凭症状无法提供确切诊断" do not count ("确切诊断" is not in the list either);
  2. a scope statement:  只能回答/只能提供…(医疗|健康|医学)  超出了(我的|医疗…)…范围
     不在我的…范围  不属于医疗/医学/健康…/我的…领域  与(医疗|医学|健康)无关  资料中没有相关…
     恕不作答  不予回答
  3. English, with I / we as the subject (or a bare "Sorry, can't …"):
       I can't / cannot / am unable to / am not able to / won't be able to / must decline to
       + help / assist / answer / respond / do that / provide that|this|such|an answer|information|
       … for that / give advice on … (not "give medical advice": a caveat)
     I can only (answer|help) … ;  outside (the|my) scope / area / expertise;  not a medical question;
     not something I can help with;  does not contain / I don't have enough information (in the
     provided documents) to answer.
  "抱歉" / "sorry" alone is no refusal ("抱歉听到您不舒服…"), and neither is a caveat followed
  by the answer: "I can't examine you in person, but …" (examine is not in the verb list).

The labelled replies in tests/evaluation/data/refusal_replies.yaml measure these rules: five of
its batches were first run blind (64 of 75 right), then kept.

Run as (one reply per argument):
    python -m evaluation.refusal "对不起，这个问题我不能提供帮助。" "如果患者无法回答问题，应拨打120。"
"""
from __future__ import annotations

import re
import sys
from typing import Optional

from evaluation.textnorm import normalise

_NEG = r"(?:无法|不能|不便|没办法|没有办法|没法|不可以|不会|难以|不予)"
_ACT = (r"(?:为您|为你|帮您|帮你|给您|给你|向您|替您|就此|对此)?(?:(?:根据|基于|仅凭|从)[^，。,！？\n]{0,10}?)?"
        r"(?:回答|解答|作答|回复|答复|帮助|帮忙|协助|处理|满足|讨论|提供帮助|提供服务|"
        r"帮(?:您|你)(?:写|做|完成|查|预订|订|买|获取|翻译|计算|规划)|"
        # offering something to the user, unless it is the diagnosis or dose no one gives unseen
        r"(?:为|帮|给|向)(?:您|你)提供(?!(?:确切|准确|具体|明确)?的?(?:诊断|剂量|用药剂量|治疗方案))|"
        r"提供(?:这方面|这类|此类|相关|该|这些|此|这)的?(?:信息|内容|建议|帮助|服务|资料|答案)|"
        r"提供[^，。,！？\n]{0,10}?相关的?(?:信息|内容|资料))")
_ZH_INABILITY = re.compile(_NEG + _ACT + r"|(?:帮|答|回答|解答)不(?:了|上)|无能为力|"
                           r"不(?:提供|回答|解答|处理|涉及)(?:此类|这类|这方面的?|这种|该类|与医疗无关的?)")
# what may stand before the negation in a refusing clause: apologies, the topic, the assistant
_ZH_PREFIX = re.compile(
    r"^(?:(?:很|非常|十分|实在)?(?:抱歉|对不起|不好意思|遗憾|很遗憾)|但是?|不过|可惜|然而|所以|因此|"
    r"(?:关于|对于)?(?:这个|该|此|这类|此类|这种|您的|你的|您这个|这)(?:问题|请求|要求)?|(?:问题|请求|要求)|"
    r"(?:根据|基于)(?:所?提供的|现有的?|给定的|参考)?(?:资料|信息|材料|内容|来源|参考资料)(?:中)?|"
    r"作为(?:一个|一名)?[^，,。]{0,12}(?:助手|AI|模型|机器人)|"
    r"我们?|本助手|小助手|(?:暂时|目前|恐怕|实在|确实|真的|并|也|还|就|都|只|是))*\s*$")
_ZH_SCOPE = re.compile(
    r"只能(?:回答|解答|提供|帮助|协助|回复)[^。！？\n]{0,20}(?:医|健康|疾病)|"
    r"超出(?:了)?(?:我的|本助手的|医疗|医学|健康|医疗咨询|医疗健康)?[^。！？\n]{0,8}范围|"
    r"不在(?:我的|本助手的)[^。！？\n]{0,8}范围|不属于我的[^。！？\n]{0,6}(?:领域|范围|范畴)|"
    r"不属于(?:医疗|医学|健康|医疗健康)[^。！？\n]{0,6}(?:范畴|范围|领域|问题)|"
    r"与(?:医疗|医学|健康|医疗健康|疾病)(?:问题)?无关|"
    r"(?:资料|参考资料|来源|文档)中(?:并)?没有(?:相关|提到|涉及)|"
    r"恕(?:不|难)(?:作答|回答|解答|奉告)|不予(?:回答|作答|置评)")
_CLAUSE_END = re.compile(r"[。，,；;！？!?\n：:]")

_EN_SUBJECT = r"(?:\bI|\bwe)\s*(?:'m|am|'re|are)?\s*(?:really\s+|truly\s+|afraid\s+|sorry,?\s+but\s+)?"
_EN_NEG = (r"(?:can'?t|can\s*not|cannot|won'?t\s+be\s+able\s+to|will\s+not\s+be\s+able\s+to|am\s+unable\s+to|"
           r"'m\s+unable\s+to|are\s+unable\s+to|unable\s+to|am\s+not\s+able\s+to|'m\s+not\s+able\s+to|"
           r"not\s+able\s+to|must\s+decline\s+to|have\s+to\s+decline\s+to|won'?t|will\s+not|do\s+not|don'?t)")
_EN_ACT = (r"(?:help|assist|answer|respond|comply|discuss|do\s+(?:that|this)\b|provide\s+(?:that|this|such|an\s+answer|any|the|"
           r"information|advice\s+on\s+(?:that|this)|[\w\s]{0,30}?\b(?:for|on|about|with)\s+(?:that|this)\b)|"
           r"give\s+(?:you\s+)?(?:any\s+)?(?:that|an\s+answer|(?:advice|information|guidance|recommendations)"
           r"\s+(?:on|about|regarding|for)\s+(?!your|the\s+symptoms|this\s+condition))|fulfil|fulfill)")
_EN = re.compile(
    rf"{_EN_SUBJECT}{_EN_NEG}\s+{_EN_ACT}|"
    r"^(?:sorry|apologies|unfortunately)[,.!]?\s*(?:but\s+)?(?:can'?t|cannot|unable\s+to)\s+" + _EN_ACT + "|"
    r"\bI\s+(?:can|am\s+able\s+to)\s+only\s+(?:answer|help|assist|respond|provide)|"
    r"\bI\s+only\s+(?:answer|help\s+with|assist\s+with)|"
    r"\boutside\s+(?:the\s+scope|my\s+scope|my\s+area|my\s+expertise|of\s+what\s+I)|"
    r"\bnot\s+(?:a\s+)?(?:medical|health(?:-related)?)\s+question|"
    r"\bnot\s+something\s+(?:I|we)\s*(?:'m|am|'re|are)?\s*(?:can\s+|able\s+to\s+)?(?:help|assist|answer)|"
    r"\bdoes\s+not\s+contain\s+(?:enough|sufficient|any)\s+information\s+to\s+answer|"
    r"\b(?:don'?t|do\s+not)\s+have\s+(?:enough|sufficient|any)\s+information\s+(?:in|from)\s+the\s+"
    r"(?:provided\s+|given\s+|retrieved\s+)?(?:documents|sources|context|references)|"
    r"\b(?:must|have\s+to)\s+decline", re.IGNORECASE)


def _zh_refuses(text: str) -> bool:
    if _ZH_SCOPE.search(text):
        return True
    for hit in _ZH_INABILITY.finditer(text):
        ends = [m.end() for m in _CLAUSE_END.finditer(text, 0, hit.start())]
        clause_start = ends[-1] if ends else 0
        if _ZH_PREFIX.match(text[clause_start:hit.start()].strip()):
            return True
    return False


def is_refusal(text: Optional[str]) -> bool:
    """True when the reply declines to answer (see the module docstring)."""
    norm = normalise(text)
    if not norm:
        return False
    return _zh_refuses(norm) or bool(_EN.search(norm))


def main(argv: list[str]) -> int:
    for text in argv:
        print(f"{'refusal' if is_refusal(text) else 'answer ':7s}  {text[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
