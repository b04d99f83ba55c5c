"""make eval's log-likelihood choice scoring agrees with lm-evaluation-harness (0.4.13, the reference
users compare with): on the same items, against the same vLLM (the pipeline's tiny model, merged and
with the LoRA adapter mounted), `lm_eval --model local-completions` picks the same option for every
item, with and without length normalisation, from the same log-likelihoods."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from evaluation import loglikelihood as L
from evaluation.items import load
from tests.conftest import ROOT
from tests.pipeline import KEY

# items of our own beside the pipeline's exam questions: yes/no/maybe (choices of different lengths,
# so acc_norm differs from acc) and an English exam question
EXTRA = [
    {"id": "x-label-1", "kind": "label", "prompt": "Does regular exercise lower resting blood pressure in adults "
     "with hypertension?", "answer": "yes"},
    {"id": "x-label-2", "kind": "label", "prompt": "Is a daily aspirin advised for every healthy adult over 40?",
     "answer": "no"},
    {"id": "x-label-3", "kind": "label", "prompt": "Does vitamin C shorten the common cold?", "answer": "maybe"},
    {"id": "x-choice-1", "kind": "choice", "prompt": "Which test screens for colorectal cancer?\nA. Colonoscopy\n"
     "B. Spirometry\nC. Audiometry\nD. Echocardiography", "options": {"A": "Colonoscopy", "B": "Spirometry",
                                                                      "C": "Audiometry", "D": "Echocardiography"},
     "answer": "A"},
]


def lm_eval_samples(url: str, model: str, task_dir, out_dir) -> dict[str, dict]:
    """{item id: lm-eval's logged sample} from `lm_eval run` against the endpoint."""
    args = {"model": model, "base_url": f"{url}/completions", "tokenizer_backend": "remote",
            "tokenized_requests": "True", "num_concurrent": "1", "max_retries": "1", "auth_token": KEY}
    env = {**os.environ, "OPENAI_API_KEY": KEY, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(out_dir / "hf")}
    done = subprocess.run([sys.executable, "-m", "lm_eval", "run", "--model", "local-completions",
                           "--model_args", ",".join(f"{k}={v}" for k, v in args.items()),
                           "--include_path", str(task_dir), "--tasks", "medkit_choice",
                           "--output_path", str(out_dir), "--log_samples"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [samples] = list(out_dir.rglob("samples_medkit_choice_*.jsonl"))
    return {s["doc"]["id"]: s for s in map(json.loads, samples.read_text().splitlines())}


@pytest.mark.parametrize("server", ["merged", "lora"])
def test_lm_eval_picks_the_same_option_on_every_item(pipeline, tmp_path, server):
    pipeline.serve(server)
    url = pipeline.url(server)
    models = [m["id"] for m in httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {KEY}"}).json()["data"]]
    model = models[0] if server == "merged" else "med-lora"  # the merged model, or the adapter on the base
    items, _ = load(sorted(pipeline.layout.eval_sets.glob("*.jsonl")))
    items = [i for i in items if i["kind"] in ("choice", "label")] + EXTRA
    rows, multi, _ = L.score_target(url, model, items, KEY, 120, 4)
    assert len(rows) >= 7 and multi >= 1  # the pipeline's CMB item has several answers: not scored either way
    theirs = lm_eval_samples(url, model, L.write_lm_eval_task(items, tmp_path / "task").parent, tmp_path / "out")
    assert sorted(theirs) == sorted(r["id"] for r in rows)
    for row in rows:
        sample = theirs[row["id"]]
        lls = [float(resp[0]) for resp in sample["filtered_resps"]]
        assert lls == pytest.approx(row["logliks"], abs=1e-3), row["id"]
        choices = sample["doc"]["choices"]
        pick = max(range(len(lls)), key=lambda i: lls[i])  # numpy.argmax: the first of equal values
        pick_norm = max(range(len(lls)), key=lambda i: lls[i] / len(choices[i]))
        assert (pick, pick_norm) == (row["pick"], row["pick_norm"]), row["id"]
        assert (sample["acc"], sample["acc_norm"]) == (float(row["correct"]), float(row["correct_norm"])), row["id"]
    assert all(len(set(r["logliks"])) == len(r["logliks"]) for r in rows)  # real scores: no option ties
    # an item whose options are one token each (" A", " yes") took one next-token request, the others
    # prompt_logprobs; both ways the log-likelihoods are lm-eval's, read from every option's sequence
    assert all((r["read_by"] == "next_token") == (set(r["continuation_tokens"]) == {1}) for r in rows)
    assert {r["read_by"] for r in rows} == {"next_token", "prompt_logprobs"}
    gap = max(abs(a - float(b[0])) for r in rows for a, b in zip(r["logliks"], theirs[r["id"]]["filtered_resps"]))
    print(f"{server}: {len(rows)} items, same picks, largest loglik difference {gap:.1e} nats")
