"""`make eval`: every target of the recipe's eval section on the same items, over HTTP only.

Steps:
  1. items     eval.sets (default <run_dir>/data/eval/*.jsonl, from `make data`), the
               first eval.limit valid items of each; malformed lines -> <run_dir>/eval/rejects.jsonl
               with file, line and reason (evaluation/items.py)
  2. targets   base URL: eval.targets[].base_url, else the gateway's URL for a model ending with
               rag.gateway.model_suffix (a -rag target in a recipe without a rag section is
               skipped, with a note), else vLLM's (core/endpoints.py: a server bound to 0.0.0.0
               is reached on 127.0.0.1, any other address as it is); API key from the
               environment variable named by serve.api_key_env
  3. requests  every target at once, each with eval.concurrency in flight, so the servers
               batch them together; then each target's timed streams (suite serving) alone,
               one request at a time (evaluation/suites.py plans them, evaluation/runner.py
               sends them: bounded concurrency, retries, timeouts, deterministic sampling,
               cached in <run_dir>/eval/cache/ so a rerun only asks what is missing)
  4. scoring   evaluation/suites.py + evaluation/metrics.py; every target after the first
               compared with the first on the items both answered (evaluation/paired.py);
               suite perplexity asks vLLM for the references' log-probabilities
               (evaluation/perplexity.py), eval.choice_scoring each option's (evaluation/
               loglikelihood.py, lm-evaluation-harness's multiple-choice scoring); eval.judge
               grades the answers (evaluation/judge.py, cached in <run_dir>/eval/judge_cache/)
  4b. multiturn eval.multiturn's consultations, turn by turn, through every target that answered
               (evaluation/multiturn.py); skipped with a note when eval.multiturn is not set
  5. report    <run_dir>/eval/report.md, results.json, predictions/, PNG plots (evaluation/report.py)
A target that stays down is reported with its URL and the error; the others are still
evaluated, the report is still written (with whatever the failed target answered), and
the exit status is 1. A judge or perplexity endpoint that fails only leaves a note. Configuration
errors exit 2.

Run as (evaluation/__main__.py):
    python -m evaluation recipes/quickstart.yaml [eval.limit=20 eval.concurrency=4 ...]
           [--serving-items 16] [--no-progress]
"""
from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from pathlib import Path
from typing import Optional

from core.endpoints import (api_key, is_rag_model, models_answer, quantized_model, rag_suffix, url_for_model,
                            vllm_url)
from core.layout import RunLayout
from core.recipe.schema import EvalSection, Recipe
from core.server_record import ServerRecord
from core.stage import StageFailed, begin
from evaluation import multiturn, reading, report, suites
from evaluation.cache import Cache, file_name
from evaluation.items import load
from evaluation.results import EvalResults
from evaluation.runner import Outcome, Runner, Target


def resolve_targets(recipe: Recipe, section: EvalSection) -> tuple[list[Target], list[tuple[str, str, str]]]:
    """(targets to evaluate, [(name, model, why skipped)])."""
    key, suffix = api_key(recipe), rag_suffix(recipe)
    targets, skipped = [], []
    for t in section.targets:
        if not t.base_url and is_rag_model(t.model, suffix) and recipe.rag is None:
            skipped.append((t.name, t.model, "a retrieval model, but the recipe has no rag section (no "
                                              "gateway); set eval.targets[].base_url or remove the target"))
            continue
        merged = None if t.base_url or not section.prefer_merged else merged_stand_in(recipe, t.model)
        if merged:
            print(f"   note: target '{t.name}': '{t.model}' evaluated on its merged export '{merged[0]}' at "
                  f"{merged[1]} (eval.prefer_merged; `make parity` checks both give the same tokens)")
            targets.append(Target(t.name, merged[0], merged[1], key))
            continue
        url = t.base_url or quantized_url(recipe, t.model) or url_for_model(recipe, t.model)
        targets.append(Target(t.name, t.model, url.rstrip("/"), key))
    return targets, skipped


def quantized_url(recipe: Recipe, model: str) -> str | None:
    """Where the quantized server of this run directory answers (`make serve ARGS="serve.mode=quantized
    serve.port=..."` starts it beside the others), when `model` is its served name and it runs."""
    if recipe.quantize is None or model != quantized_model(recipe):
        return None
    record = ServerRecord.read(RunLayout.of(recipe).pid_file("vllm-quantized"))
    return record.url if record else None


def merged_stand_in(recipe: Recipe, model: str) -> tuple[str, str] | None:
    """(merged model name, URL) when `model` is the recipe's only adapter and a merged vLLM server runs
    for this run directory; None otherwise (the adapter is evaluated as mounted). The merged export is the
    SFT adapter's, so a preference adapter served beside it (smol-med-dpo) is never sent there."""
    adapters = recipe.serve.adapters
    if len(adapters) != 1 or model != adapters[0].name or not RunLayout.of(recipe).merged.exists():
        return None
    record = ServerRecord.read(RunLayout.of(recipe).pid_file("vllm-merged"))
    key = api_key(recipe)
    if not record or not record.models or record.models[0] not in (models_answer(record.url, key) or []):
        print(f"   note: eval.prefer_merged, but no merged server runs for this run directory; '{model}' is "
              f"evaluated as mounted (start one: make serve ARGS=\"serve.mode=merged serve.port=...\")")
        return None
    return record.models[0], record.url.rstrip("/")


def eval_paths(recipe: Recipe, section: EvalSection) -> list[Path]:
    if section.sets:
        return [Path(p) for p in section.sets]
    return sorted(RunLayout.of(recipe).eval_sets.glob("*.jsonl"))


def merge(into: Outcome, more: Outcome) -> None:
    into.responses.update(more.responses)
    into.failures += more.failures
    into.cached += more.cached
    into.fresh += more.fresh
    into.down = into.down or more.down


def bertscore(model: str, pairs: list[tuple[str, str]]) -> tuple[Optional[dict], Optional[str]]:
    """({"f1": mean}, None) or (None, why not)."""
    try:
        from bert_score import score
    except ImportError:
        return None, f"BERTScore skipped: eval.bertscore_model = {model!r} but the bert-score package is not " \
                     "installed in the app environment"
    try:
        refs, preds = [r for r, _ in pairs], [p for _, p in pairs]
        _, _, f1 = score(preds, refs, model_type=model, lang="zh", verbose=False)
        return {"f1": float(f1.mean())}, None
    except Exception as exc:  # a model name bert-score does not know, no network, ...
        return None, f"BERTScore skipped: {type(exc).__name__}: {exc}"


def score_target(outcome: Outcome, items: list[dict], section: EvalSection,
                 rag: bool, serving_ids: list[str], notes: list[str]) -> tuple[dict, list[dict]]:
    kw = {"rag": rag, "tokenizer": section.rouge_tokenizer, "threshold": section.support_threshold}
    full = [suites.score_row(i, outcome.responses.get((i["id"], "full")), "full", **kw) for i in items]
    results = suites.aggregate(full, list(section.suites), rag)
    rows = list(full)
    if section.bertscore_model and "open" in results:
        pairs = [(r["reference"], r["prediction"]) for r in full if "error" not in r and "rougeL" in r]
        found, why = bertscore(section.bertscore_model, pairs)
        if found:
            results["open"]["bertscore_f1"] = found["f1"]
        elif why not in notes:
            notes.append(why)
    if "ablation" in section.suites:
        minimal = [suites.score_row(i, outcome.responses.get((i["id"], "minimal")), "minimal", **kw) for i in items]
        rows += minimal
        results["ablation"] = suites.ablation(full, minimal, section.seed)
    if "nosystem" in section.suites:
        chosen = suites.bare_items(items)
        bare = [suites.score_row(i, outcome.responses.get((i["id"], "bare")), "bare", **kw) for i in chosen]
        rows += bare
        ids = {i["id"] for i in chosen}
        results["nosystem"] = {**suites.aggregate(bare, ["format", "safety"], rag),
                               "paired": suites.ablation([r for r in full if r["id"] in ids], bare, section.seed)}
    if "serving" in section.suites:
        by_id = {i["id"]: i for i in items}
        streamed = [suites.score_row(by_id[i], outcome.responses.get((i, "stream")), "stream", **kw)
                    for i in serving_ids]
        rows += streamed
        figures = suites.serving(streamed)
        if figures:
            results["serving"] = figures
    return results, rows


def reference_perplexity(targets: list[Target], info: list[dict], suite_results: dict, items: list[dict],
                         section: EvalSection, notes: list[str]) -> None:
    """suite_results[target]["perplexity"] for the targets that can compute it (evaluation/perplexity.py)."""
    from evaluation import perplexity
    per_target = {}
    for target, status in zip(targets, info):
        if target.name not in suite_results or status["status"] == "failed":
            continue
        if status["rag"]:
            notes.append(f"perplexity: target '{target.name}' skipped (behind the RAG gateway: no /tokenize, and "
                         "its prompt holds retrieved text)")
            continue
        try:
            per_target[target.name] = perplexity.target_nll(target.base_url, target.model, items, target.api_key,
                                                            section.timeout_s, section.concurrency)
        except Exception as exc:  # no /tokenize (not vLLM), no prompt_logprobs, connection lost
            notes.append(f"perplexity: target '{target.name}' unavailable: {type(exc).__name__}: {exc}")
    for name, figures in perplexity.summarise(per_target).items():
        suite_results[name]["perplexity"] = figures


def choice_loglikelihood(targets: list[Target], info: list[dict], suite_results: dict, items: list[dict],
                         section: EvalSection, out: Path, notes: list[str], failed: list[str]) -> dict[str, dict]:
    """suite_results[target]["loglikelihood"] for every vLLM target (evaluation/loglikelihood.py), its rows
    in <out>/loglikelihood/, the items as an lm-evaluation-harness task beside them; returns
    {target: {item id: correct}} for the paired comparisons. A target that cannot give prompt
    log-probabilities fails (the setting was asked for): named in `failed` with the fix."""
    from evaluation import loglikelihood
    folder = out / "loglikelihood"
    loglikelihood.write_lm_eval_task(items, folder / "lm_eval")
    correct = {}
    for target, status in zip(targets, info):
        if status["status"] == "failed":
            continue
        if status["rag"]:
            notes.append(f"log-likelihood: target '{target.name}' skipped (behind the RAG gateway: no /tokenize, "
                         "and its prompt holds retrieved text)")
            continue
        try:
            with Cache(folder / "cache" / file_name(target.name)) as cache:
                rows, multi, timing = loglikelihood.score_target(target.base_url, target.model, items,
                                                                 target.api_key, section.timeout_s,
                                                                 section.concurrency, cache, target.name)
        except Exception as exc:  # no /tokenize, no prompt_logprobs (not vLLM), connection lost
            failed.append(f"target '{target.name}' ({target.base_url}): eval.choice_scoring "
                          f"'{section.choice_scoring}' needs token log-probabilities (vLLM's /tokenize and "
                          f"/v1/completions with logprob_token_ids or prompt_logprobs), and it answered "
                          f"{type(exc).__name__}: {exc}; "
                          "use eval.choice_scoring: generate for this endpoint")
            print(f"   error: {failed[-1]}", file=sys.stderr)
            continue
        loglikelihood.write_rows(folder, target.name, rows)
        suite_results.setdefault(target.name, {})["loglikelihood"] = loglikelihood.summarise(rows, multi, timing)
        correct[target.name] = {r["id"]: r["correct"] for r in rows}
    return correct


def judge_answers(recipe: Recipe, section: EvalSection, out: Path, rows: dict[str, list[dict]], items: list[dict],
                  quiet: bool) -> Optional[dict]:
    """EvalResults.judge (evaluation/judge.py), or None when eval.judge is not set. Never raises:
    a judge that fails leaves the rest of the evaluation standing."""
    if section.judge is None:
        return None
    from evaluation import judge
    default_url = vllm_url(recipe)
    print(f"   -- judge: model '{section.judge.model}' at {section.judge.base_url or default_url}", flush=True)
    try:
        found = judge.run(section.judge, section.seed, section.timeout_s, section.retries, section.concurrency,
                          out / "judge_cache", rows, items, default_url, progress=not quiet)
    except Exception as exc:  # the report must not depend on the judge
        found = {"model": section.judge.model, "base_url": section.judge.base_url or default_url,
                 "status": "unavailable", "error": f"{type(exc).__name__}: {exc}", "targets": {}}
    if found["status"] != "ok":
        print(f"   warning: judge {found['status']}: {found['error']}", file=sys.stderr)
    return found


def multiturn_suite(recipe: Recipe, section: EvalSection, out: Path, runner: Runner, targets: list[Target],
                    target_info: list[dict], notes: list[str]) -> Optional[dict]:
    """EvalResults.multiturn, or None (with a note) when the suite is off or has no items file."""
    if "multiturn" not in section.suites:
        return None
    if not section.multiturn:
        notes.append("multiturn: skipped (set eval.multiturn to a JSONL of consultations, e.g. "
                     "data/samples/multiturn/consultations_zh.jsonl)")
        return None
    up = [t for t, info in zip(targets, target_info) if info["status"] != "failed"]
    found = multiturn.suite(Path(section.multiturn), section, up, runner, out / "judge_cache", vllm_url(recipe))
    for name, figures in found["targets"].items():
        if figures["error"]:
            notes.append(f"multiturn: target '{name}' went down after {figures['complete']} complete "
                         f"consultation(s): {figures['error']}")
    return found


def check_grounded_passages(recipe: Recipe, section: EvalSection, items: list[dict], targets: list[Target]) -> None:
    """StageFailed (2) when a grounded item's passage is not in this run's built index while a retrieval
    target would be scored on it: its citations could never be right, the figures would be wrong."""
    if "grounded" not in section.suites or recipe.rag is None \
            or not any(is_rag_model(t.model, rag_suffix(recipe)) for t in targets):
        return
    from serve.rag.store import indexed_doc_ids
    held = indexed_doc_ids(RunLayout.of(recipe).index)
    if held is None:
        return  # no index here: the gateway says so (503) and the targets are reported down
    missing = [i.get("passage_id") or i["id"] for i in items if set(i.get("gold_doc_ids") or []) - held]
    if missing:
        raise StageFailed(f"the grounded suite's passages {', '.join(missing[:10])}"
                          f"{' …' if len(missing) > 10 else ''} ({len(missing)} item(s)) are not in the index at "
                          f"{RunLayout.of(recipe).index}; rebuild it from this run's corpus (`make index`) or "
                          "drop 'grounded' from eval.suites", 2)


def print_summary(results: EvalResults) -> None:
    """The headline figures (%), one line per target."""
    labels: list[str] = []
    for per in results.headline.values():
        labels += [k for k in per if k not in labels]
    if not labels:
        return
    width = max(len(t) for t in results.headline) + 2
    print("\n   " + "target".ljust(width) + " | ".join(labels))
    for target, per in results.headline.items():
        cells = [f"{per[label] * 100:{len(label)}.1f}" if per.get(label) is not None else "—".rjust(len(label))
                 for label in labels]
        print("   " + target.ljust(width) + " | ".join(cells))


def run(recipe: Recipe, serving_items: int = suites.SERVING_ITEMS, progress: bool = True) -> EvalResults:
    """Evaluate every target; the results (also in <run_dir>/eval/results.json). StageFailed (exit 1)
    when there is nothing to evaluate or a target stayed down (the report is written first)."""
    section = recipe.eval or EvalSection()
    layout = begin(recipe, "eval")
    out = layout.eval
    out.mkdir(parents=True, exist_ok=True)
    paths = eval_paths(recipe, section)
    absent = [str(p) for p in paths if not p.is_file()]
    if not paths or absent:
        where = f"at {', '.join(absent)}" if absent else f"in {layout.eval_sets}/"
        raise StageFailed(f"no evaluation sets {where}; run `make data` first or fix eval.sets")
    items, rejects = load(paths, section.limit)
    with (out / "rejects.jsonl").open("w", encoding="utf-8") as fh:
        for r in rejects:
            fh.write(r.to_json() + "\n")
    limit = f" (first {section.limit} per set)" if section.limit else ""
    print(f"   {len(items)} items from {len(paths)} sets{limit}, {len(rejects)} rejected line(s)"
          + (f" -> {out}/rejects.jsonl" if rejects else ""))
    for r in rejects[:10]:
        print(f"     {r.file}:{r.line}: {r.reason}")
    if not items:
        raise StageFailed("no valid evaluation items; see the rejects above")
    if section.prompt_preset:  # OpenCompass's prompts for CMB / MedQA items (evaluation/presets.py)
        from evaluation import presets
        applied = presets.apply(items, section.prompt_preset)
        items = applied.items
        print(f"   {presets.describe(section.prompt_preset, applied)}")
    targets, skipped = resolve_targets(recipe, section)
    check_grounded_passages(recipe, section, items, targets)
    notes = [f"target '{n}' ({m}) skipped: {why}" for n, m, why in skipped]
    for note in notes:
        print(f"   warning: {note}")
    runner = Runner(out / "cache", concurrency=section.concurrency, timeout_s=section.timeout_s,
                    retries=section.retries, max_tokens=section.max_tokens, temperature=section.temperature,
                    seed=section.seed, progress=progress)
    # eval.choice_scoring loglikelihood: choice and label items are scored by log-likelihood only
    generated = items if section.choice_scoring != "loglikelihood" else \
        [i for i in items if i["kind"] not in suites.CHOICE_KINDS]
    planned = suites.plan(generated, list(section.suites), section.minimal_prompt, serving_items)
    serving_ids = [r.item_id for r in planned["serving"]]
    target_info, suite_results, rows, headline, failed = [], {}, {}, {}, []
    for target in targets:
        print(f"   -- {target.name}: model '{target.model}' at {target.base_url}: {len(planned['main'])} requests"
              + (f" + {len(planned['serving'])} streamed one at a time" if planned["serving"] else ""), flush=True)
    # all targets at once (eval.concurrency each), then each target's timed streams alone
    outcomes = runner.run_each([(target, planned["main"]) for target in targets])
    for target, outcome in zip(targets, outcomes):
        if planned["serving"] and not outcome.down:
            merge(outcome, runner.run(target, planned["serving"], concurrency=1))
        rag = is_rag_model(target.model, rag_suffix(recipe)) or any(r.get("sources") for r in outcome.responses.values())
        info = {"name": target.name, "model": target.model, "base_url": target.base_url, "rag": rag,
                "status": "ok", "error": None, "cached": outcome.cached, "fresh": outcome.fresh,
                "failures": len(outcome.failures)}
        if outcome.down:
            info.update(status="failed", error=outcome.down)
            failed.append(outcome.down)
            print(f"   error: {outcome.down}; kept {len(outcome.responses)} answer(s)", file=sys.stderr)
        elif outcome.failures:
            info["status"] = f"ok, {len(outcome.failures)} request(s) failed"
            print(f"   warning: {len(outcome.failures)} request(s) to '{target.name}' failed, e.g. "
                  f"{outcome.failures[0]['error']}", file=sys.stderr)
        target_info.append(info)
        if outcome.responses:
            suite_results[target.name], rows[target.name] = score_target(
                outcome, generated, section, rag, serving_ids, notes)
            headline[target.name] = suites.headline(suite_results[target.name], rag)
    # every target against the first, on the items both answered (evaluation/paired.py)
    full_rows = {t: [r for r in rs if r["variant"] == "full"] for t, rs in rows.items()}
    first = next(iter(full_rows), None)
    paired = {t: suites.paired(full_rows[first], full_rows[t], section.seed)
              for t in full_rows if t != first}
    compared = [{"a": a, "b": b, "metrics": suites.paired(full_rows[a], full_rows[b], section.seed)}
                for a, b in section.compare if a in full_rows and b in full_rows]
    if "perplexity" in section.suites:
        reference_perplexity(targets, target_info, suite_results, items, section, notes)
    if section.choice_scoring != "generate" and any(i["kind"] in suites.CHOICE_KINDS for i in items):
        correct = choice_loglikelihood(targets, target_info, suite_results, items, section, out, notes, failed)
        first = first or next(iter(correct), None)  # every item a choice item: no generated rows
        for name, found in suites.paired_loglikelihood(correct, first, section.seed).items():
            paired.setdefault(name, {}).update(found)
        for target, info in zip(targets, target_info):
            if target.name in correct:
                headline[target.name] = suites.headline(suite_results[target.name], info["rag"])
    judged = judge_answers(recipe, section, out, rows, items, not progress)
    consultations = multiturn_suite(recipe, section, out, runner, targets, target_info, notes)
    for name, model, why in skipped:
        target_info.append({"name": name, "model": model, "base_url": None, "rag": True, "status": "skipped",
                            "error": why})
    results = EvalResults(
        recipe=recipe.name, run_dir=str(layout.root),
        created=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        params={"temperature": section.temperature, "seed": section.seed, "max_tokens": section.max_tokens,
                "choice_scoring": section.choice_scoring, "prompt_preset": section.prompt_preset,
                "concurrency": section.concurrency, "timeout_s": section.timeout_s, "retries": section.retries,
                "limit": section.limit, "minimal_prompt": section.minimal_prompt,
                "support_threshold": section.support_threshold, "suites": list(section.suites),
                "serving_items": len(serving_ids)},
        rouge_tokenizer=section.rouge_tokenizer,
        items={"total": len(items), "sets": [str(p) for p in paths], "rejected": len(rejects),
               "by_dataset": dict(Counter(i.get("dataset") for i in items)),
               "by_kind": dict(Counter(i["kind"] for i in items))},
        targets=target_info, suites=suite_results, headline=headline,
        paired={"against": first, "resamples": suites.P.RESAMPLES, "seed": section.seed, "targets": paired,
                "compare": compared},
        judge=judged, multiturn=consultations, anchors=report.ANCHORS, notes=notes,
        reading={t: reading.summary(rs, section.seed) for t, rs in rows.items()},
        runner={k: round(v, 3) if isinstance(v, float) else v for k, v in runner.stats.items()})
    report.write(out, results, rows, trainer_log=layout.trainer_log)
    print_summary(results)
    print(f"\n   wrote {out}/report.md, results.json, predictions/, {', '.join(results.plots) or 'no plots'}")
    if failed:
        raise StageFailed(f"{len(failed)} target(s) failed; partial results kept in {out}/:\n"
                          + "\n".join(f"  - {message}" for message in failed))
    return results
