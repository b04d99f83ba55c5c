"""Write llamafactory_reference.json: LLaMA-Factory's per-pair metric values from the REAL packages.

The reference for evaluation/lf_metrics.py. It calls jieba, rouge_chinese and nltk the way
LLaMA-Factory 0.9.5's ComputeSimilarity does, so it needs them installed; the app
environment does not carry rouge_chinese (LLaMA-Factory lists it only under its optional
`metrics` requirements), so run it in any environment that has them:
    python -m venv lfref-env && lfref-env/bin/pip install rouge-chinese==1.0.3 nltk==3.10.4 jieba==0.42.1
    lfref-env/bin/python tests/evaluation/data/make_llamafactory_reference.py
"""
from __future__ import annotations

import json
import logging
from importlib.metadata import version
from pathlib import Path

import jieba
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge

PAIRS = [  # (label, prediction)
    ("高血压患者应低盐饮食，每天食盐不超过5克。", "高血压患者要低盐饮食，每天盐不超过6克。"),
    ("可使用β受体阻滞剂。", "可使用α受体阻滞剂。"),
    ("【病情分析】\n考虑急性胃炎。\n【指导建议】\n清淡饮食，少食多餐！必要时就医？", "【病情分析】\n可能是胃炎。\n【指导建议】\n少食多餐。"),
    ("多喝水，注意休息。", "多喝水，注意休息。"),
    ("多喝水，注意休息。", ""),
    ("", "多喝水。"),
    ("发热", "发"),
    ("发热", "热"),
    ("头痛", "头痛头痛头痛"),
    ("建议复查血常规。血常规可以看白细胞。", "建议查血常规，血常规看白细胞和中性粒细胞。"),
    ("他说：“要按时吃药。”然后离开了。", "医生说：“按时吃药。”然后走了。"),
    ("请等待……结果出来再说……好吗", "等待……结果……好的"),
    ("Take 500 mg of paracetamol every 6 hours.", "Take 1000 mg paracetamol every 8 hours..."),
    ("The patient should see a doctor. Rest and fluids help!", "See a doctor? Rest helps."),
    ("空腹血糖≥7.0 mmol/L可诊断糖尿病。", "空腹血糖≤7.0 mmol/L为正常。"),
    ("维生素B12缺乏导致巨幼细胞贫血", "缺乏维生素B12会导致巨幼细胞性贫血"),
    ("第一行\n\n第二行\n \n第三行", "第一行\n第三行"),
    ("  ", "  "),
    ("。", "。"),
    ("咳嗽咳嗽咳嗽，咳痰。", "咳嗽，咳痰咳痰。"),
    ("儿童发热超过38.5℃可服用布洛芬混悬液，剂量按体重计算（5-10 mg/kg）。", "孩子体温超过38.5度，可以吃布洛芬，按体重给药。"),
    ("CT", "ct"),
    ("乙肝五项：HBsAg(+)，HBeAg(+)，抗-HBc(+)，俗称“大三阳”。", "大三阳指HBsAg、HBeAg、抗HBc阳性。"),
    ("以上内容仅供参考，不能替代医生面诊。", "以上仅供参考，请以医生面诊为准。"),
    ("胃镜", "建议做胃镜检查明确诊断，同时查幽门螺杆菌，如阳性需四联疗法根除治疗两周，治疗结束后一个月复查。"),
]


def llamafactory(label: str, pred: str) -> dict[str, float]:
    hypothesis, reference = list(jieba.cut(pred)), list(jieba.cut(label))
    if len(" ".join(hypothesis).split()) == 0 or len(" ".join(reference).split()) == 0:
        result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
    else:
        result = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
    out = {k: round(v["f"] * 100, 4) for k, v in result.items()}
    bleu = sentence_bleu([list(label)], list(pred), smoothing_function=SmoothingFunction().method3)
    out["bleu-4"] = round(bleu * 100, 4)
    return out


def main() -> None:
    jieba.setLogLevel(logging.CRITICAL)
    rows = [{"label": label, "predict": pred, **llamafactory(label, pred)} for label, pred in PAIRS]
    blob = {"made_with": {p: version(p) for p in ("rouge-chinese", "nltk", "jieba")}, "pairs": rows}
    path = Path(__file__).with_name("llamafactory_reference.json")
    path.write_text(json.dumps(blob, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} pairs to {path}")


if __name__ == "__main__":
    main()
