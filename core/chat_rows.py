"""A training row as a chat: the alpaca columns `make data` writes (instruction, input, output,
system) in the messages form chat templates take. Parity prompts, quantization calibration and GRPO
prompts read the splits through here, so all three ask what training taught."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator


def prompt_messages(row: dict) -> list[dict]:
    """system (when the row has one) + the user turn: instruction, then input on its own line."""
    user = row["instruction"] + ("\n" + row["input"] if row.get("input") else "")
    chat = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return chat + [{"role": "user", "content": user}]


def full_messages(row: dict) -> list[dict]:
    """The prompt and the row's answer as the assistant turn."""
    return prompt_messages(row) + [{"role": "assistant", "content": row["output"]}]


def split_rows(path: Path) -> Iterator[dict]:
    """The rows of one split file (train.jsonl ...), in order; nothing when it is missing."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
