"""Convert one source by hand.

Run as:
    python -m converters FORMAT SRC [SRC ...] --out DIR
SRC may be a file, a folder (every file under it), a glob or a .zip (converters/sources.py).
Writes DIR/<format>.jsonl (alpaca rows), DIR/dataset_info.json, DIR/rejects.jsonl,
DIR/corpus.jsonl for formats that carry corpus passages (textbooks, PubMedQA contexts) and
DIR/<format>_pairs.jsonl and DIR/<format>_kto.jsonl (LLaMA-Factory ranking and KTO datasets)
for preference pairs.
Prints input = kept + rejected (+ documents). Exit status: 0; 1 when nothing was kept (empty
input, or every record rejected), with what to do; 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from converters import FORMATS
from converters import pairs
from converters.build import lf_entry, sft_rows, write_jsonl
from converters.common import Document, Reject
from converters.sources import read_source


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m converters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("format", choices=sorted(FORMATS))
    parser.add_argument("src", nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    examples, documents, rejects = [], [], []
    with tempfile.TemporaryDirectory(prefix="medkit-convert-") as scratch:
        for n, src in enumerate(args.src):
            for item in read_source(args.format, src, FORMATS[args.format], Path(scratch) / str(n)):
                kind = rejects if isinstance(item, Reject) else documents if isinstance(item, Document) else examples
                kind.append(item)
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.format.replace("-", "_")
    write_jsonl(args.out / f"{name}.jsonl", sft_rows(examples))
    write_jsonl(args.out / "rejects.jsonl", (json.loads(r.to_json()) for r in rejects))
    if documents:
        write_jsonl(args.out / "corpus.jsonl", (d.to_json() for d in documents))
    info = {name: lf_entry(f"{name}.jsonl", any(e.meta.get("history") for e in examples))}
    info.update(pairs.write([e for e in examples if pairs.is_pair(e)], args.out, f"{name}_pairs", f"{name}_kto"))
    (args.out / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    total = len(examples) + len(rejects)
    print(f"{args.format}: input {total} = kept {len(examples)} + rejected {len(rejects)}; "
          f"documents {len(documents)} -> {args.out}/")
    if examples or documents:
        return 0
    if not rejects:
        print(f"error: no records in {' '.join(args.src)}: the input is empty. Check the path and that the "
              f"files are in the {args.format!r} format (README, Data).", file=sys.stderr)
    else:
        reasons = Counter(r.reason.split(":")[0].split(" (")[0] for r in rejects)
        print(f"error: all {len(rejects)} records were rejected ({dict(reasons.most_common(5))}); see "
              f"{args.out}/rejects.jsonl. Is {args.format!r} the right format for these files?", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
