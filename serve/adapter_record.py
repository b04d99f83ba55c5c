"""The LoRA adapters `make adapter` added or removed while serving: <run_dir>/serve/adapters.json.

{"added": {name: absolute folder}, "removed": [names of the recipe's own adapters],
 "served": {"started": <server start time>, "fingerprints": {name: {"path", "fingerprint"}}}}
`make serve` mounts the recipe's adapters minus "removed" plus "added", so a restarted vLLM
serves the same set. "served" remembers, for the running server only, which folder and which
files each name was loaded from (serve/adapters.py refuses to reload a name from changed files).
"""
from __future__ import annotations

import json
from pathlib import Path

from core.layout import RunLayout
from core.recipe.schema import Recipe


def record_file(recipe: Recipe) -> Path:
    return RunLayout.of(recipe).adapter_record


def read(recipe: Recipe) -> dict:
    path = record_file(recipe)
    record = json.loads(path.read_text()) if path.exists() else {}
    return {"added": record.get("added", {}), "removed": record.get("removed", []),
            "served": record.get("served", {})}


def write(recipe: Recipe, record: dict) -> None:
    path = record_file(recipe)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    tmp.replace(path)  # never half-written: a restart reads it
