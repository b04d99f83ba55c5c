"""An invented corpus for the RAG tests (not medical advice)."""
from __future__ import annotations

import json
from pathlib import Path

# Invented passages (not medical advice). Rare terms used as queries: 嗜铬细胞瘤, 甲氧基肾上腺素,
# 铁蛋白, pheochromocytoma, budesonide. rx-dup-a / rx-dup-b are near-duplicates (one word differs).
PASSAGES = [
    ("zh-htn", "高血压的饮食管理", "高血压患者应当低盐饮食，每日食盐不超过5克。规律服用降压药，每天早晚各测一次血压。"),
    ("zh-dm", "二型糖尿病", "二甲双胍是2型糖尿病的常用一线药物。服药期间应监测血糖，并定期复查肾功能。"),
    ("zh-pheo", "嗜铬细胞瘤", "嗜铬细胞瘤是一种少见的肾上腺肿瘤，可引起阵发性高血压、头痛和大汗。"
                            "诊断首选血浆游离甲氧基肾上腺素测定，再做肾上腺CT定位。"),
    ("zh-ida", "缺铁性贫血", "缺铁性贫血常见于育龄女性。血清铁蛋白降低是诊断缺铁最敏感的指标。口服铁剂宜饭后服用。"),
    ("zh-flu", "流行性感冒", "流感由流感病毒引起，表现为发热、咳嗽和全身酸痛。发病四十八小时内使用奥司他韦效果较好。"),
    ("zh-gerd", "胃食管反流病", "胃食管反流病的典型症状是烧心和反酸。睡前三小时避免进食，抬高床头有助于缓解。"),
    ("zh-mig", "偏头痛", "偏头痛多为单侧搏动性头痛，可伴恶心和畏光。发作期可用布洛芬，频繁发作需预防治疗。"),
    ("zh-gout", "痛风", "痛风与高尿酸血症有关，常在夜间突发第一跖趾关节红肿热痛。急性期应多饮水并避免饮酒。"),
    ("en-asthma", "Asthma controller therapy",
     "Inhaled corticosteroids such as budesonide are the first-line controller therapy for persistent asthma. "
     "Patients should rinse the mouth after each inhalation."),
    ("en-pheo", "Pheochromocytoma",
     "Pheochromocytoma is a rare catecholamine-secreting tumour of the adrenal medulla. "
     "Plasma free metanephrines are the preferred initial test."),
    ("en-stroke", "Stroke warning signs",
     "Sudden facial droop, arm weakness and slurred speech are warning signs of stroke. "
     "Call emergency services immediately; thrombolysis works best within hours."),
    ("en-ckd", "Chronic kidney disease",
     "Chronic kidney disease is staged by estimated glomerular filtration rate and albuminuria. "
     "Blood pressure control slows its progression."),
    ("rx-dup-a", "阿莫西林用法", "阿莫西林是常用的青霉素类抗生素，用于细菌感染。青霉素过敏者禁用，服药前应询问过敏史，"
                            "疗程一般为七到十天，不可自行停药。如出现皮疹或呼吸困难，应立即停药并就医。"),
    ("rx-dup-b", "阿莫西林说明", "阿莫西林是常用的青霉素类抗生素，用于细菌感染。青霉素过敏者禁用，服药前应询问过敏史，"
                            "疗程一般为七到十天，不要自行停药。如出现皮疹或呼吸困难，应立即停药并就医。"),
]
LONG_DOC = ("zh-long", "慢性阻塞性肺疾病",
            "慢性阻塞性肺疾病简称慢阻肺，与长期吸烟密切相关。" * 3
            + "主要症状是慢性咳嗽、咳痰和活动后气短。肺功能检查是诊断的金标准。"
            "戒烟是最重要的干预措施。稳定期可使用支气管扩张剂，急性加重时需及时就医。" * 2)


def record(doc_id: str, title: str, text: str) -> dict:
    return {"id": doc_id, "title": title, "text": text, "source": f"invented:{doc_id}",
            "metadata": {"dataset": "invented", "lang": doc_id[:2]}}


CORPUS = [record(*p) for p in PASSAGES] + [record(*LONG_DOC)]


def write_corpus(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
