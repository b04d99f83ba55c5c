"""`make data`: convert the recipe's data sources into LLaMA-Factory datasets.

Writes into <run_dir>/data/:
    train.jsonl, validation.jsonl, test.jsonl   alpaca rows (instruction/input/output/system)
    dataset_info.json                           entries medkit_train / _validation / _test
    rejects.jsonl                               every malformed row with file, line, reason
    summary.json                                counts per source and split, rejects by reason

Official splits (an example's meta["split"]) are kept; otherwise the split is
decided per example by a seeded hash of its text, so it is deterministic and
stays stable when rows are added. Re-running overwrites.

Run as:
    python -m converters.build recipes/quickstart.yaml [key.sub=value ...]
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

from converters import FORMATS
from converters.common import Example, Reject
from recipes.load import load_or_exit, start_run
from recipes.schema import DataSection

SPLITS = ("train", "validation", "test")
DATASET_PREFIX = "medkit"


def split_of(example: Example, seed: int, val_size: float, test_size: float) -> str:
    key = f"{seed}\x00{example.instruction}\x00{example.input}".encode("utf-8")
    bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64  # uniform in [0, 1)
    if bucket < test_size:
        return "test"
    if bucket < test_size + val_size:
        return "validation"
    return "train"


def write_jsonl(path: Path, rows) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def lf_entry(file_name: str) -> dict:
    """A dataset_info.json entry for one of our alpaca-column JSONL files."""
    return {"file_name": file_name,
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}}


def dataset_info(files: dict[str, str]) -> dict:
    return {f"{DATASET_PREFIX}_{split}": lf_entry(name) for split, name in files.items()}


def build(data: DataSection, seed: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    buckets: dict[str, list[dict]] = {s: [] for s in SPLITS}
    per_source: dict[str, Counter] = {}
    rejects: list[Reject] = []
    for source in data.sources:
        path = Path(source.path)
        label = source.name or path.stem
        counts = per_source.setdefault(label, Counter())
        for item in FORMATS[source.format](path):
            if isinstance(item, Reject):
                rejects.append(item)
                counts["rejected"] += 1
                continue
            if source.max_samples and counts["kept"] >= source.max_samples:
                break
            if data.system_prompt and not item.system:
                item.system = data.system_prompt
            split = item.meta.get("split")  # an official split (cMedQA2 dev/test) wins
            if split not in SPLITS:
                split = split_of(item, seed, data.val_size, data.test_size)
            buckets[split].append(item.to_alpaca())
            counts["kept"] += 1
            counts[split] += 1
    files = {split: f"{split}.jsonl" for split in SPLITS if buckets[split]}
    for split, name in files.items():
        write_jsonl(out / name, buckets[split])
    for split in SPLITS:  # a split that became empty must not leave a stale file behind
        if split not in files:
            (out / f"{split}.jsonl").unlink(missing_ok=True)
    write_jsonl(out / "rejects.jsonl", (json.loads(r.to_json()) for r in rejects))
    (out / "dataset_info.json").write_text(json.dumps(dataset_info(files), indent=2), encoding="utf-8")
    kept = sum(len(rows) for rows in buckets.values())
    summary = {
        "kept": kept,
        "rejected": len(rejects),
        "splits": {s: len(buckets[s]) for s in SPLITS},
        "per_source": {k: dict(v) for k, v in per_source.items()},
        "rejects_by_reason": dict(Counter(r.reason.split(":")[0] for r in rejects)),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def main(argv: list[str]) -> int:
    recipe = load_or_exit(argv)
    out = start_run(recipe, "data") / "data"
    summary = build(recipe.data, recipe.finetune.seed, out)
    for label, counts in summary["per_source"].items():
        print(f"   {label:24s} kept {counts.get('kept', 0):6d}   rejected {counts.get('rejected', 0):5d}")
    print(f"   splits: {summary['splits']}   rejects: {summary['rejects_by_reason'] or 'none'}")
    total = summary["kept"] + summary["rejected"]
    share = summary["rejected"] / total if total else 1.0
    if summary["splits"]["train"] == 0:
        print(f"error: no training examples in {out}; check data.sources and {out}/rejects.jsonl",
              file=sys.stderr)
        return 1
    if share > recipe.data.max_reject_share:
        print(f"error: {share:.1%} of rows rejected (data.max_reject_share = "
              f"{recipe.data.max_reject_share:.1%}); see {out}/rejects.jsonl", file=sys.stderr)
        return 1
    print(f"   wrote {out}/ (dataset_info.json, train/validation/test.jsonl, rejects.jsonl)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
