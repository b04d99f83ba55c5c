"""Counts that add up, and the states of a `make data` run that must not go on to training.

Per source, every record a converter gives is counted once:
    input = kept + rejected + duplicates + over_max_samples
(rejected: by the converter or by the length filters; duplicates: dropped by dedupe;
over_max_samples: beyond the source's max_samples). Corpus passages are counted apart as
documents. problems() turns a summary into error sentences: an empty source, a source whose
records were all rejected or dropped, a reject share above data.max_reject_share, no training
examples. Each names the source and says what to check.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # recipes imports nothing from here; the annotation only
    from core.recipe.schema import DataSection


def accounting(counts: dict) -> str:
    """One source's counts as the identity they satisfy: input = kept + rejected + duplicates (+ capped)."""
    capped = counts.get("over_max_samples", 0)
    text = (f"input {counts.get('input', 0)} = kept {counts.get('kept', 0)} + rejected {counts.get('rejected', 0)}"
            f" + duplicates {counts.get('duplicates', 0)}")
    return text + (f" + over max_samples {capped}" if capped else "")


def problems(summary: dict, data: DataSection, out: Path) -> list[str]:
    """Why this data must not be trained on: empty or all-rejected sources, too many rejects, no train split."""
    found = []
    for source in data.sources:
        label = source.name or Path(source.path).stem
        counts = summary["per_source"].get(label, {})
        if counts.get("documents"):
            continue  # a corpus-only source (textbooks)
        if not counts.get("input"):
            found.append(f"source {label!r} ({source.path}) is empty: no records in it. Check the path and that "
                         f"its files are in the {source.format!r} format (README, Data), then rerun.")
        elif not counts.get("kept"):
            reasons = summary["rejects_by_source"].get(label, {})
            found.append(f"every record of source {label!r} ({source.path}) was rejected or dropped "
                         f"({accounting(counts)}; reasons {reasons or 'none'}); see {out}/rejects.jsonl. "
                         f"Is {source.format!r} the right format for it?")
    total = summary["kept"] + summary["rejected"]
    if total and summary["rejected"] / total > data.max_reject_share:
        found.append(f"{summary['rejected'] / total:.1%} of rows rejected (data.max_reject_share = "
                     f"{data.max_reject_share:.1%}); see {out}/rejects.jsonl")
    if summary["splits"]["train"] == 0 and not found:
        found.append(f"no training examples in {out}; check data.sources and {out}/rejects.jsonl")
    return found
