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

import json
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, text_field
from converters.pubmed import _objects as json_records  # JSON array (streamed) or JSONL, sniffed


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    for number, obj in json_records(path):
        if isinstance(obj, Reject):
            yield obj
            continue
        raw = json.dumps(obj, ensure_ascii=False)[:200]
        instruction, output = text_field(obj, "instruction"), text_field(obj, "output")
        if instruction is None or output is None:
            missing = "instruction" if instruction is None else "output"
            yield Reject(str(path), number, f"missing or empty '{missing}'", raw)
            continue
        extra = obj.get("input")
        if extra is not None and not isinstance(extra, str):
            yield Reject(str(path), number, f"bad input: expected a string, got {type(extra).__name__}", raw)
            continue
        yield Example(instruction=instruction, output=output, input=(extra or "").strip(),
                      source=f"{path.name}:{number}")
