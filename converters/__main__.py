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
import sys
from pathlib import Path

from converters import FORMATS
from converters.by_hand import convert
from core.stage import command_status, exit_status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m converters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("format", choices=sorted(FORMATS))
    parser.add_argument("src", nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    return exit_status(lambda: convert(args.format, args.src, args.out))


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
