"""What `make eval` measured: one EvalResults, written as <run_dir>/eval/results.json by
evaluation/evaluate.py and read, field by field, by the report (evaluation/report*.py, reading.py,
plots.py) and by anyone who loads results.json (EvalResults.load).

Inside the fields the figures stay plain mappings, keyed by target name, suite and metric as the
report tables show them: suites[target][suite][metric], headline[target][metric]. Shares are
fractions in [0, 1] unless SCALE says otherwise.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

SCALE = ("fractions in [0, 1] unless the key ends in _ms, _chars, _mean (counts) or is tokens_per_s, "
         "tokens, n, seconds, items_per_s or (median_item_)perplexity")


@dataclass
class EvalResults:
    recipe: str                   # the recipe's name
    run_dir: str
    created: str                  # ISO time with its offset
    params: dict                  # eval settings: temperature, seed, max_tokens, concurrency, limit, suites, ...
    rouge_tokenizer: str
    items: dict                   # total, sets, rejected, by_dataset, by_kind
    targets: list[dict]           # per target: name, model, base_url, rag, status, error, cached, fresh, failures
    suites: dict                  # suites[target][suite][metric]
    headline: dict                # headline[target][metric]: the figures of the summary, plots and bars
    paired: dict = field(default_factory=dict)   # against, resamples, seed, targets, compare (paired.py)
    judge: Optional[dict] = None                 # judge.py: model, status, per target verdict shares
    multiturn: Optional[dict] = None             # multiturn.py: file, items, per target figures, judge
    anchors: dict = field(default_factory=dict)  # published reference figures the report sets beside ours
    notes: list[str] = field(default_factory=list)
    reading: dict = field(default_factory=dict)  # reading.py: how the replies were read, per target
    runner: dict = field(default_factory=dict)   # request counts and seconds of the HTTP runner
    plots: list[str] = field(default_factory=list)  # the PNG files written beside report.md
    scale: str = SCALE

    def to_json(self) -> dict:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def from_json(cls, data: dict) -> "EvalResults":
        """From a results.json mapping; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: Path) -> "EvalResults":
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
