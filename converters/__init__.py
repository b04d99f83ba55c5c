"""Converters: one module per public data format, one signature.

Each format module exposes `read(path) -> Iterator[Example | Document | Reject]`,
streaming one source (a file, or a release folder); malformed rows come back as
`Reject`s (file, line, reason) instead of being dropped silently.
Record-per-line formats share one loop, common.convert_records: the module supplies a
reader of (line, object | Reject) pairs (common.read_jsonl, read_json_records, csv_records)
and a `convert(obj, where)` that returns its Example(s) / Document(s) or a reject reason.
"""
from converters import (alpaca, cblue_cls, cmb, cmedqa2, cmedqa2_pairs, cmexam, dialogue_csv, dialogue_text,
                        dialogue_txt, grounded, huatuo2_eval, huatuo_conversation, huatuo_encyclopedia, huatuo_lite,
                        huatuo_med_dialog, medicalgpt_preference, medqa, medqa_textbooks, prompt_cblue, pubmed,
                        pubmedqa, qa_jsonl, sharegpt, shibing624_medical, text_corpus, wenda_jsonl)

FORMATS = {
    "qa-jsonl": qa_jsonl.read,
    "alpaca": alpaca.read,
    "sharegpt": sharegpt.read,
    "medqa": medqa.read,                      # 5-option, 4_options and bigbio JSONL
    "medqa-textbooks": medqa_textbooks.read,  # a textbook folder (or .txt) -> corpus documents
    "cmedqa2": cmedqa2.read,
    "cmedqa1": cmedqa2.read,                  # same layout; the reader finds questions.csv/answers.csv itself
    "cmedqa2-pairs": cmedqa2_pairs.read,      # train_candidates.txt -> preference pairs (dev/test questions held out)
    "pubmed": pubmed.read,
    "pubmedqa": pubmedqa.read,                # ori_pqal.json -> examples + corpus documents
    "dialogue-csv": dialogue_csv.read,
    "huatuo-lite": huatuo_lite.read,
    "huatuo-encyclopedia": huatuo_encyclopedia.read,
    "shibing624-medical": shibing624_medical.read,
    "cmb": cmb.read,
    "cmexam": cmexam.read,
    "medicalgpt-preference": medicalgpt_preference.read,  # chosen/rejected pairs (+ a ranking dataset)
    "wenda-jsonl": wenda_jsonl.read,          # {"问", "答"} lines (MedicalGPT's RAG corpus text)
    "huatuogpt2-eval": huatuo2_eval.read,     # HuatuoGPT-II evaluation files (instruction + conversation sets)
    "huatuo-conversation": huatuo_conversation.read,  # multi-turn lists of turns (HuatuoGPT-II, MedDialog-style)
    "grounded-jsonl": grounded.read,          # knowledge passages with the questions they answer (grounded suite)
    "prompt-cblue": prompt_cblue.read,        # PromptCBLUE task prompts {input, target, answer_choices, task_type}
    "dialogue-text": dialogue_text.read,      # "病人：…\n医生：…" dialogue strings, multi-turn
    "text-corpus": text_corpus.read,          # plain .txt, a passage per block of lines -> corpus documents
    "dialogue-txt": dialogue_txt.read,        # Toyhom's per-department .txt: "title,ask" line, answer lines
    "cblue-cls": cblue_cls.read,              # CBLUE classification / sentence pairs {query|text|text1+text2, label}
    "huatuo-med-dialog": huatuo_med_dialog.read,  # HuatuoGPT Med-dialog {medical_case, doctor_diagnosis}
}
