"""Alpaca passthrough: a JSON array or JSON Lines of {instruction, input?, output, system?, history?},
told apart by the content, not the file name (Huatuo-Llama-Med-Chinese's llama_data.json is one object
per line; common.read_json_records streams either)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_fields


def _convert(obj: dict, where: str) -> Example | str:
    fields = text_fields(obj, "instruction", "output")
    if isinstance(fields, str):
        return fields
    instruction, output = fields
    return Example(instruction=instruction, output=output, input=(obj.get("input") or "").strip(),
                   system=(obj.get("system") or "").strip(), source=where)


def read(path: Path) -> Iterator[Example | Reject]:
    yield from convert_records(path, read_json_records(path), _convert)
