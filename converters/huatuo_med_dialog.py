"""HuatuoGPT's Med-dialog evaluation set (FreedomIntelligence/HuatuoGPT, `eval/Med-dialog_100.json`).

A JSON array (JSON Lines is read too) of online consultations:
    {"id": 62963, "Department": "皮肤科",
     "medical_case": "疾病：\\n…\\n病情描述：\\n…\\n希望获得的帮助：\\n…\\n患病多久：\\n…\\n过敏史：\\n…",
     "doctor_diagnosis": "病情摘要及初步印象：\\n…\\n总结建议：\\n…"}
`medical_case` is the patient's form (label lines ending in "：", each followed by its value); some
cases go on with the consultation itself after a line "Dialogue" (医生：/病人： turns, the layout
of dialogue-text). `doctor_diagnosis` is the doctor's written conclusion, either
病情摘要及初步印象 + 总结建议 or 疾病诊断 + 药品. Each case becomes:
    instruction  the form as written, up to the dialogue (the dialogue is the consultation that
                 led to the conclusion, not the question)
    output       the doctor's conclusion as written
    meta         {"subject": Department, "id", "dialogue": the consultation text or None}
The form's "（2020-03-25填写）" dates and a trailing "医生给您发来一个提醒：" line are kept as written.
Rejects: bad JSON, a record that is not an object, an empty medical_case or doctor_diagnosis.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field, text_fields

_DIALOGUE = re.compile(r"^\s*Dialogue\s*$", re.M)


def split_case(case: str) -> tuple[str, str | None]:
    """(the patient's form, the consultation after its "Dialogue" line or None)."""
    match = _DIALOGUE.search(case)
    if not match:
        return case.strip(), None
    return case[:match.start()].strip(), case[match.end():].strip() or None


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "medical_case", "doctor_diagnosis")
    if isinstance(fields, str):
        return fields
    case, diagnosis = fields
    form, dialogue = split_case(case)
    if not form:
        return "empty 'medical_case' before its Dialogue line"
    return Example(instruction=form, output=diagnosis, source=where,
                   meta={"subject": text_field(obj, "Department"), "id": obj.get("id"), "dialogue": dialogue})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), _convert)
