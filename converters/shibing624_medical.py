"""shibing624/medical SFT data (`finetune/train_zh_0.json`, `valid_zh_0.json`, `test_zh_0.json`,
`train_en_1.json`, ...). Despite the `.json` suffix these files are JSON LINES:
    {"instruction": "血热的临床表现是什么?", "input": "", "output": "..."}
A file whose first non-blank character is "[" is read as a JSON array instead (its "line"
is then the 1-based item index), so the same rows saved as an array also work.
Each valid row becomes, as in the alpaca converter:
    instruction  instruction (stripped)     input   input (stripped, "" when absent or null)
    output       output (stripped)          meta    {} (the source has no question/subject fields)
Rejects: bad JSON, non-object rows, missing or empty instruction / output, an `input`
that is neither a string nor null ("bad input").
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_fields


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "instruction", "output")
    if isinstance(fields, str):
        return fields
    instruction, output = fields
    extra = obj.get("input")
    if extra is not None and not isinstance(extra, str):
        return f"bad input: expected a string, got {type(extra).__name__}"
    return Example(instruction=instruction, output=output, input=(extra or "").strip(), source=where)


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), _convert)
