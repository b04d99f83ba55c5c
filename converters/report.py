"""The data report of `make data`: report.md plus PNG plots in <run_dir>/data/.

Plots: examples per source and split, question/answer length distributions
(characters, training split), and the category mix. Chinese labels need a CJK
font (Debian: fonts-wqy-microhei); without one the plots still render, with
boxes for the Chinese glyphs, and the report says so.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from converters.example_meta import subject_of
from core.plot_fonts import cjk_font, plt  # plt configured for files only (Agg)


def plot_counts(summary: dict, path: Path) -> None:
    sources = list(summary["per_source"])
    splits = ("train", "validation", "test")
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(sources) + 2), 4))
    width = 0.8 / len(splits)
    for i, split in enumerate(splits):
        values = [summary["per_source"][s].get(split, 0) for s in sources]
        ax.bar([x + i * width for x in range(len(sources))], values, width, label=split)
    ax.set_xticks([x + width for x in range(len(sources))], sources, rotation=20, ha="right")
    ax.set_ylabel("examples")
    ax.set_title("Examples per source and split")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_lengths(train: list, path: Path) -> None:
    questions = [len(e.instruction) + len(e.input) for e in train]
    answers = [len(e.output) for e in train]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, values, title in ((axes[0], questions, "prompt length"), (axes[1], answers, "answer length")):
        ax.hist(values, bins=30, color="#4C72B0")
        ax.set_title(f"{title} (characters, train; median {sorted(values)[len(values) // 2] if values else 0})")
        ax.set_xlabel("characters")
        ax.set_ylabel("examples")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bar_labels(names: list[str], can_draw_cjk: bool) -> list[str]:
    """The names themselves, or without a CJK font "C1", "C2", ... for those with characters it cannot draw
    (the report lists what each stands for)."""
    if can_draw_cjk:
        return names
    return [name if name.isascii() else f"C{i}" for i, name in enumerate(names, start=1)]


def plot_categories(examples: list, path: Path, can_draw_cjk: bool = True) -> Counter:
    mix = Counter(str(subject_of(e) or e.meta.get("kind") or f"({e.meta.get('dataset', 'none')})")
                  for e in examples)
    top = mix.most_common(15)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(top) + 1.5))
    labels = bar_labels([k for k, _ in top], can_draw_cjk)
    ax.barh(list(reversed(labels)), [v for _, v in reversed(top)], color="#55A868")
    ax.set_xlabel("examples")
    ax.set_title("Category mix (all splits, top 15)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return mix


def five_section_lines(rates: dict | None) -> list[str]:
    """The five-section table: per section, the share with text of the answer's own, with a placeholder
    because the answer says nothing on the topic, and with one because the topic sits inside a sentence
    placed under another header (sentences are never cut)."""
    if not rates:
        return []
    faithful = rates.get("faithful")
    lines = ["", "## Five-section answers", "",
             f"{rates['answers']} open answers in the five sections ({rates.get('unchanged', 0)} already had "
             f"them and are kept as written). Whole sentences are moved, never cut: a section without a "
             f"sentence of the answer's own gets a placeholder ({rates['placeholder_share']:.1%} of the four content "
             f"sections), which says whether the answer had nothing on the topic or put it in a sentence under "
             f"another header. The standard disclaimer was added to {rates['standard_disclaimer_share']:.1%} of "
             "answers (the others had their own). Evaluation references and corpus passages keep the original "
             "answers.", "",
             f"Faithfulness (the sections, joined, are the answer less its greetings): "
             f"{'not checked' if faithful is None else f'{faithful:.1%} of answers'}; conditions cut from their "
             f"consequence: {rates.get('condition_splits', 0)}; numbered lists cut across sections: "
             f"{rates.get('list_splits', 0)}.", "",
             "| section | from the answer | placeholder: nothing on the topic | placeholder: inside another section "
             "| of which one-sentence answers |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {share:.1%} | {rates['nothing'][name]:.1%} | {rates['not_placed'][name]:.1%} "
              f"| {rates['not_placed_single'][name]:.1%} |" for name, share in rates["filled"].items()]
    if rates.get("llm_fallbacks"):
        lines += ["", f"Model-assisted sorting: {rates['llm_fallbacks']} answers fell back to the rules "
                      "(the model's reply was unusable or the endpoint failed)."]
    return lines


def pair_lines(counts: dict) -> list[str]:
    """Preference pairs per split and where the derived ones came from (their rejects are in the table above)."""
    if not any(counts.values()):
        return []
    splits = ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "validation", "test"))
    origins = {k: v for k, v in counts.items() if k not in ("train", "validation", "test")}
    return ["", "## Preference pairs", "",
            f"Pairs written (medkit_pairs_<split>.jsonl, ranking; medkit_kto_<split>.jsonl, KTO): {splits}.",
            f"Made here: {origins or 'none'}. Training pairs whose question is in the validation or test split are "
            "rejected as \"held-out question\"."]


def write_report(built, summary: dict, out: Path) -> None:
    font = cjk_font()
    everything = [e for split in built.splits.values() for e in split]
    plot_counts(summary, out / "report_counts.png")
    plot_lengths(built.splits["train"], out / "report_lengths.png")
    mix = plot_categories(everything, out / "report_categories.png", can_draw_cjk=bool(font))
    lines = ["# Data report", "",
             f"Kept {summary['kept']} examples ({summary['splits']}), rejected {summary['rejected']}, "
             f"dropped {summary['duplicates']} duplicates; {summary['corpus_documents']} corpus passages; "
             f"{summary['leakage']} held-out questions also found in training data (leakage.jsonl).", "",
             "Training examples with retrieved context (core/rag_prompt.py, the gateway's prompt): "
             f"{summary['with_context']['noisy-context']} with the answering passage among distractors and "
             f"{summary['with_context'].get('distractor-context', 0)} with distractors only (data.noise), "
             f"{summary['with_context']['refusal-with-context']} refusals (data.refusals.with_context); "
             f"{summary['with_context'].get('without-system', 0)} written without a system message "
             "(data.without_system).", "",
             "Per source, input = kept + rejected + duplicates + over max_samples; documents are corpus passages.", "",
             "| source | input | kept | rejected | duplicates | over max_samples | documents | train | validation "
             "| test |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, c in summary["per_source"].items():
        lines.append(f"| {name} | {c.get('input', 0)} | {c.get('kept', 0)} | {c.get('rejected', 0)} | "
                     f"{c.get('duplicates', 0)} | {c.get('over_max_samples', 0)} | {c.get('documents', 0)} | "
                     f"{c.get('train', 0)} | {c.get('validation', 0)} | {c.get('test', 0)} |")
    lines += ["", "## Rejects by reason", "", "| reason | rows |", "|---|---:|"]
    lines += [f"| {r} | {n} |" for r, n in sorted(summary["rejects_by_reason"].items(), key=lambda x: -x[1])] or ["| none | 0 |"]
    lines += five_section_lines(summary.get("five_section"))
    lines += pair_lines(summary.get("pairs") or {})
    lines += ["", f"Personal data replaced: {summary['pii_replaced'] or 'none'}", "",
              "## Plots", "", "![counts](report_counts.png)", "", "![lengths](report_lengths.png)", "",
              "![categories](report_categories.png)", "",
              f"Category mix: {dict(mix.most_common(10))}", ""]
    if not font:
        names = [k for k, _ in mix.most_common(15)]
        key = ", ".join(f"{label} = {name}" for label, name in zip(bar_labels(names, False), names) if label != name)
        lines += ["(No CJK font found: the category plot labels Chinese categories " + (key or "(none)") +
                  ". Install fonts-wqy-microhei for the names themselves.)", ""]
    lines += ["## Examples of each transformation", ""]
    for name, pair in built.samples.items():
        lines += [f"### {name}", "", "before:", "```", pair["before"], "```", "after:", "```", pair["after"], "```", ""]
    if not built.samples:
        lines.append("(no transformation changed any example)")
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
