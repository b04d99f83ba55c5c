"""Convert one source by hand.

Run as:
    python -m converters FORMAT SRC [SRC ...] --out DIR
Writes DIR/<format>.jsonl (alpaca rows), DIR/dataset_info.json, DIR/rejects.jsonl, and
DIR/corpus.jsonl for formats that carry corpus passages (textbooks, PubMedQA contexts).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from converters import FORMATS
from converters.build import lf_entry, to_row, write_jsonl
from converters.common import Document, Reject


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m converters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("format", choices=sorted(FORMATS))
    parser.add_argument("src", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.src if not p.exists()]
    if missing:
        parser.error(f"source file(s) not found: {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)
    examples, documents, rejects = [], [], []
    for src in args.src:
        for item in FORMATS[args.format](src):
            kind = rejects if isinstance(item, Reject) else documents if isinstance(item, Document) else examples
            kind.append(item)
    name = args.format.replace("-", "_")
    write_jsonl(args.out / f"{name}.jsonl", (to_row(e) for e in examples))
    write_jsonl(args.out / "rejects.jsonl", (json.loads(r.to_json()) for r in rejects))
    if documents:
        write_jsonl(args.out / "corpus.jsonl", (d.to_json() for d in documents))
    info = {name: lf_entry(f"{name}.jsonl", any(e.meta.get("history") for e in examples))}
    (args.out / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    print(f"{args.format}: kept {len(examples)}, documents {len(documents)}, rejected {len(rejects)} -> {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
