"""Choice and yes/no/maybe items scored by log-likelihood over HTTP, the way lm-evaluation-harness
scores multiple choice (eval.choice_scoring: loglikelihood or both).

Per item (evaluation/prompt_logprobs.py): when every option is one token after the context (option
letters, yes/no/maybe, as tokenizers usually split " A" and " yes"), ONE next-token request returns
the log-probability of each option's token (vLLM's logprob_token_ids: one prefill, prefix-cached);
else one request holding every option with prompt_logprobs (a prefill of each option's sequence):
  context       the item's prompt, a newline and an answer cue: "答案：" when the prompt holds CJK
                characters, else "Answer:" (the raw-completion form of lm-evaluation-harness's own
                tasks such as MMLU and CMMLU: no chat template)
  choices       choice items: the option letters; label items: yes, no, maybe
  continuation  " " + choice (lm-evaluation-harness's default target_delimiter)
  tokens        lm-evaluation-harness's split: whitespace ending the context moves to the
                continuation; whole = tokenize(context + continuation), and the continuation's tokens
                are whole[len(tokenize(context)):] (the server's /tokenize, no special tokens)
  loglik        the sum of log p(continuation token | every token before it), natural log
  acc           the option with the highest loglik is the gold one (a tie goes to the first option)
  acc_norm      the same with loglik / len(choice) in characters (lm-evaluation-harness's acc_norm)
Not scored this way: items whose answer is several letters (CMB's multiple-answer questions; counted
as `multi_answer`), and targets behind the RAG gateway (no /tokenize; its prompt holds retrieved text).
Rows: <run_dir>/eval/loglikelihood/<target>.jsonl, cached in loglikelihood/cache/ (a rerun asks only
what is missing, like the answers' cache). `write_lm_eval_task` writes the same items as a
local lm-evaluation-harness task, so the figures can be set beside `lm_eval --model local-completions`
(tests/evaluation/test_lm_eval_agreement.py checks that both pick the same option on every item).

Run as (one target's figures on a run's eval sets):
    python -m evaluation.loglikelihood http://127.0.0.1:8000/v1 med-lora runs/quickstart/data/eval/*.jsonl
"""
from __future__ import annotations

import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import httpx

from core.stage import command_status
from evaluation import metrics as M
from evaluation.cache import Cache, file_name, request_key
from evaluation.items import LABELS
from evaluation.prompt_logprobs import next_token_logprobs, token_logprobs, tokenize
from evaluation.suites import CHOICE_KINDS

_CJK = re.compile(r"[\u4e00-\u9fff]")
DELIMITER = " "  # lm-evaluation-harness's target_delimiter


def doc(item: dict) -> Optional[dict]:
    """{id, context, choices, gold} of a choice or label item; None for a multiple-answer item."""
    if item["kind"] == "choice":
        if len(item["answer"]) != 1:
            return None
        choices = sorted(item["options"])
    else:
        choices = list(LABELS)
    cue = "答案：" if _CJK.search(item["prompt"]) else "Answer:"
    return {"id": item["id"], "context": f"{item['prompt']}\n{cue}", "choices": choices,
            "gold": choices.index(item["answer"])}


def encode_pairs(client: httpx.Client, base_url: str, model: str, context: str,
                 continuations: list[str]) -> list[tuple[list[int], list[int]]]:
    """(context tokens, continuation tokens) per continuation, split as lm-evaluation-harness splits
    them; the context is tokenized once for all of them."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuations = context[:-spaces], [context[-spaces:] + c for c in continuations]
    head = tokenize(client, base_url, model, text=context)
    pairs = []
    for continuation in continuations:
        whole = tokenize(client, base_url, model, text=context + continuation)
        pairs.append((head, whole[len(head):]))
    return pairs


def logliks(client: httpx.Client, base_url: str, model: str,
            pairs: list[tuple[list[int], list[int]]]) -> tuple[list[float], str]:
    """(loglik per pair, how it was read). Every continuation one token after the context (encode_pairs
    gives all pairs the same context tokens; option letters, yes/no/maybe): one next-token request.
    Else every sequence's prompt_logprobs."""
    if all(len(c) == 1 for _, c in pairs):
        found = next_token_logprobs(client, base_url, model, pairs[0][0], [c[0] for _, c in pairs])
        return [found[c[0]] for _, c in pairs], "next_token"
    logprobs = token_logprobs(client, base_url, model, [h + c for h, c in pairs], [len(h) for h, _ in pairs])
    return [sum(found) for found in logprobs], "prompt_logprobs"


def score_doc(client: httpx.Client, base_url: str, model: str, d: dict) -> dict:
    """The row of one item: every option's loglik, the picks with and without normalisation."""
    pairs = encode_pairs(client, base_url, model, d["context"], [DELIMITER + c for c in d["choices"]])
    lls, read_by = logliks(client, base_url, model, pairs)
    pick = max(range(len(lls)), key=lambda i: lls[i])
    pick_norm = max(range(len(lls)), key=lambda i: lls[i] / len(d["choices"][i]))
    return {**d, "logliks": lls, "continuation_tokens": [len(c) for _, c in pairs], "read_by": read_by,
            "pick": pick, "pick_norm": pick_norm, "correct": pick == d["gold"], "correct_norm": pick_norm == d["gold"]}


def score_target(base_url: str, model: str, items: list[dict], api_key: Optional[str], timeout_s: float,
                 concurrency: int, cache: Optional[Cache] = None, target: str = "") -> tuple[list[dict], int, dict]:
    """(rows, multiple-answer items skipped, {fresh, seconds}); Unavailable when the server cannot do it.
    With a cache, rows scored before for the same target, model, URL, context and choices are reused
    and new ones appended (an interrupted or finished run rescores without the server)."""
    docs = [doc(i) for i in items if i["kind"] in CHOICE_KINDS]
    todo = [d for d in docs if d is not None]
    keys = {d["id"]: request_key(target, model, base_url, d["id"], "loglikelihood",
                                 {"context": d["context"], "choices": d["choices"]}) for d in todo}
    known = {d["id"]: cache.get(keys[d["id"]]) for d in todo} if cache else {}
    fresh = [d for d in todo if not known.get(d["id"])]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def score(d: dict) -> dict:
        row = score_doc(client, base_url, model, d)
        if cache:
            cache.put({"key": keys[d["id"]], **row})
        return row

    started = time.perf_counter()
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        scored = [score(fresh[0])] if fresh else []  # alone: a server that cannot do it fails once
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            scored += pool.map(score, fresh[1:])
    seconds = time.perf_counter() - started
    by_id = {**{i: {k: v for k, v in r.items() if k != "key"} for i, r in known.items() if r},
             **{r["id"]: r for r in scored}}
    return [by_id[d["id"]] for d in todo], len(docs) - len(todo), {"fresh": len(scored), "seconds": seconds}


def summarise(rows: list[dict], multi_answer: int, timing: dict) -> dict:
    """accuracy with its 95% Wilson interval, acc_norm, items per second of the rows scored now."""
    norm = M.accuracy([r["correct_norm"] for r in rows])
    rate = timing["fresh"] / timing["seconds"] if timing["fresh"] and timing["seconds"] > 0 else None
    return {**M.accuracy([r["correct"] for r in rows]), "acc_norm": norm["accuracy"],
            "acc_norm_ci_low": norm["ci_low"], "acc_norm_ci_high": norm["ci_high"],
            "multi_answer": multi_answer, "cached": len(rows) - timing["fresh"],
            "seconds": round(timing["seconds"], 3), "items_per_s": rate}


def write_rows(folder: Path, target: str, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(target)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_lm_eval_task(items: list[dict], folder: Path, name: str = "medkit_choice") -> Path:
    """The scorable items as a local lm-evaluation-harness task (<folder>/<name>.yaml + its JSONL):
    `lm_eval --include_path <folder> --tasks <name> --model local-completions ...`."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = [d for d in (doc(i) for i in items if i["kind"] in CHOICE_KINDS) if d is not None]
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    # the fields are the task's text, choices and target as they are: no template between them
    config = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
              "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "context",
              "doc_to_choice": "choices", "doc_to_target": "gold",
              "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}]}
    task = folder / f"{name}.yaml"
    task.write_text(json.dumps(config, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")  # JSON is YAML
    return task


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    from evaluation.items import load
    url, model, *paths = argv
    items, _ = load([Path(p) for p in paths])
    rows, multi, timing = score_target(url, model, items, None, 120, 4)
    print(json.dumps(summarise(rows, multi, timing), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
