"""How well the five-section restructuring fits a source's answers, without a full `make data`.

Run as:
    python -m converters.prep.fill_report FORMAT SRC [SRC ...]
    python -m converters.prep.fill_report dialogue-csv data/samples/dialogue_csv_real
Prints, over the source's open answers (not multiple choice, not yes/no): how many were
restructured, each content section's fill rate (share of answers that gave it a sentence of
its own), the share whose topic sits inside a sentence under another header, the faithfulness
check, conditions and numbered lists cut across sections, and the placeholder share of the four
content sections, the figures the data report shows. Answers that already had the five headers
count as they are.
"""
from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from converters import FORMATS
from converters.common import Example
from converters.prep.five_section import fill_rates, restructure, tally
from converters.sources import read_source
from core.stage import command_status


def measure(fmt: str, sources: list[str]) -> dict:
    counter: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="medkit-fill-") as scratch:
        for n, src in enumerate(sources):
            for item in read_source(fmt, src, FORMATS[fmt], Path(scratch) / str(n)):
                if isinstance(item, Example) and "answer" not in item.meta:
                    tally(counter, restructure(item.output)[1])
    return fill_rates(counter)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in FORMATS:
        print(__doc__, file=sys.stderr)
        return 2
    rates = measure(argv[0], argv[1:])
    if not rates["answers"]:
        print("error: no open answers in the source(s)", file=sys.stderr)
        return 1
    filled = "  ".join(f"{name} {share:.0%}" for name, share in rates["filled"].items())
    elsewhere = "  ".join(f"{name} {share:.0%}" for name, share in rates["not_placed"].items())
    single = "  ".join(f"{name} {share:.0%}" for name, share in rates["not_placed_single"].items())
    print(f"{rates['answers']} answers; filled: {filled}; topic inside another section: {elsewhere} "
          f"(in one-sentence answers: {single}); "
          f"faithful {rates['faithful']:.0%}, conditions cut {rates['condition_splits']}, lists cut "
          f"{rates['list_splits']}; placeholders in {rates['placeholder_share']:.1%} "
          f"of content sections; standard disclaimer added to {rates['standard_disclaimer_share']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
