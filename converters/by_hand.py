"""`make convert`: one source converted by hand into a folder, outside any run directory.

Writes DIR/<format>.jsonl (alpaca rows), DIR/dataset_info.json, DIR/rejects.jsonl,
DIR/corpus.jsonl for formats that carry corpus passages (textbooks, PubMedQA contexts) and
DIR/<format>_pairs.jsonl and DIR/<format>_kto.jsonl (LLaMA-Factory ranking and KTO datasets)
for preference pairs.
"""
from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

from converters import FORMATS, pairs
from converters.build import lf_entry, sft_rows
from converters.common import Document, Reject
from converters.sources import read_source
from core.errors import StageFailed
from core.jsonl import write_jsonl
from core.layout import dataset_info_in


def convert(fmt: str, sources: list[str], out: Path) -> dict[str, int]:
    """Counts (input, kept, rejected, documents); StageFailed when nothing was kept."""
    examples, documents, rejects = [], [], []
    with tempfile.TemporaryDirectory(prefix="medkit-convert-") as scratch:
        for n, src in enumerate(sources):
            for item in read_source(fmt, src, FORMATS[fmt], Path(scratch) / str(n)):
                kind = rejects if isinstance(item, Reject) else documents if isinstance(item, Document) else examples
                kind.append(item)
    out.mkdir(parents=True, exist_ok=True)
    name = fmt.replace("-", "_")
    write_jsonl(out / f"{name}.jsonl", sft_rows(examples))
    write_jsonl(out / "rejects.jsonl", (json.loads(r.to_json()) for r in rejects))
    if documents:
        write_jsonl(out / "corpus.jsonl", (d.to_json() for d in documents))
    info = {name: lf_entry(f"{name}.jsonl", any(e.meta.get("history") for e in examples))}
    info.update(pairs.write([e for e in examples if pairs.is_pair(e)], out, f"{name}_pairs", f"{name}_kto"))
    dataset_info_in(out).write_text(json.dumps(info, indent=2), encoding="utf-8")
    total = len(examples) + len(rejects)
    print(f"{fmt}: input {total} = kept {len(examples)} + rejected {len(rejects)}; "
          f"documents {len(documents)} -> {out}/")
    counts = {"input": total, "kept": len(examples), "rejected": len(rejects), "documents": len(documents)}
    if examples or documents:
        return counts
    if not rejects:
        raise StageFailed(f"no records in {' '.join(sources)}: the input is empty. Check the path and that the "
                          f"files are in the {fmt!r} format (README, Data).")
    reasons = Counter(r.reason.split(":")[0].split(" (")[0] for r in rejects)
    raise StageFailed(f"all {len(rejects)} records were rejected ({dict(reasons.most_common(5))}); see "
                      f"{out}/rejects.jsonl. Is {fmt!r} the right format for these files?")
