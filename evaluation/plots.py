"""The evaluation report's PNG plots (matplotlib, Agg; Chinese labels through core.plot_fonts.cjk_font).

  bars(values, path)    grouped bars: one group per metric, one bar per target, values in %
                        printed above the bars; a metric a target lacks has no bar
  radar(values, path)   one polygon per target over the metrics every target has (0-100 %);
                        skipped (returns False) with fewer than three such metrics
  loss(trainer_log, path)  training loss (and eval loss when logged) per step from
                        LLaMA-Factory's <run_dir>/adapter/trainer_log.jsonl; False when absent

`values` is {target: {metric label: fraction}}.

Run as (redraws the plots of a finished evaluation from its results.json):
    python -m evaluation.plots runs/quickstart/eval/results.json
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from core.plot_fonts import cjk_font  # noqa: E402
from core.stage import command_status

COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def _metrics(values: dict[str, dict[str, float]]) -> list[str]:
    seen: list[str] = []
    for per_target in values.values():
        seen += [m for m in per_target if m not in seen]
    return seen


def bars(values: dict[str, dict[str, float]], path: Path, title: str = "Evaluation metrics by target") -> bool:
    metrics = _metrics(values)
    if not metrics:
        return False
    cjk_font()
    targets = list(values)
    width = 0.8 / len(targets)
    fig, ax = plt.subplots(figsize=(min(16, max(8, 0.35 * len(metrics) * (len(targets) + 1) + 2)), 5))
    for i, target in enumerate(targets):
        xs = [m + (i - (len(targets) - 1) / 2) * width for m in range(len(metrics))]
        ys = [values[target].get(metric) for metric in metrics]
        kept = [(x, y * 100) for x, y in zip(xs, ys) if y is not None]
        if not kept:
            continue
        rects = ax.bar([x for x, _ in kept], [y for _, y in kept], width, label=target,
                       color=COLOURS[i % len(COLOURS)])
        ax.bar_label(rects, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(range(len(metrics)), metrics, rotation=25, ha="right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 112)
    ax.set_title(title)
    ax.legend(ncols=min(len(targets), 4), loc="upper right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def radar(values: dict[str, dict[str, float]], path: Path, title: str = "Target profile (%)") -> bool:
    common = [m for m in _metrics(values) if all(values[t].get(m) is not None for t in values)]
    if len(common) < 3:
        return False
    cjk_font()
    angles = [2 * math.pi * i / len(common) for i in range(len(common))]
    fig, ax = plt.subplots(figsize=(6.5, 6.5), subplot_kw={"projection": "polar"})
    for i, (target, per) in enumerate(values.items()):
        ys = [per[m] * 100 for m in common]
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(angles + angles[:1], ys + ys[:1], color=colour, linewidth=2, label=target)
        ax.fill(angles + angles[:1], ys + ys[:1], color=colour, alpha=0.12)
    ax.set_xticks(angles, common, fontsize=9)
    ax.set_ylim(0, 100)
    ax.set_yticks([25, 50, 75, 100], ["25", "50", "75", "100"], fontsize=7, color="grey")
    ax.set_title(title, pad=34)
    ax.legend(loc="upper right", bbox_to_anchor=(1.25, 1.12), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def loss(trainer_log: Path, path: Path) -> bool:
    if not trainer_log.exists():
        return False
    train, evals = [], []
    for line in trainer_log.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = row.get("current_steps")
        if step is None:
            continue
        if row.get("loss") is not None:
            train.append((step, row["loss"]))
        if row.get("eval_loss") is not None:
            evals.append((step, row["eval_loss"]))
    if not train and not evals:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], label="training loss", color=COLOURS[0])
    if evals:
        ax.plot([s for s, _ in evals], [v for _, v in evals], "o-", label="eval loss", color=COLOURS[1])
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"Training loss ({trainer_log.parent.name}/{trainer_log.name})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str]) -> int:
    results = EvalResults.load(Path(argv[0]))
    out = Path(argv[0]).parent
    values = {t: v for t, v in results.headline.items()}
    print("bars", bars(values, out / "metrics_bars.png"), "radar", radar(values, out / "radar.png"))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
