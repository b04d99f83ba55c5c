"""The quantized model on the shared pipeline: the quickstart quantized the merged tiny model (w8a8,
llmcompressor) and `make parity` judged it by token agreement; here `make serve` serves it beside the
other servers, `make parity` uses that server, and `make eval` evaluates it beside the merged model it was
made from, paired."""
from __future__ import annotations

import json

import httpx

from evaluation.results import EvalResults
from serve import process
from serve.process import free_port
from tests.conftest import run_module


def test_the_quickstart_quantized_the_merged_model(pipeline):
    layout = pipeline.layout
    stamp = json.loads(layout.quantize_done.read_text())
    assert stamp["scheme"] == "w8a8" and stamp["method"] == "gptq"
    config = json.loads((layout.quantized / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["ignore"] == ["lm_head"]
    weights = config["config_groups"]["group_0"]["weights"]
    assert weights["num_bits"] == 8 and weights["type"] == "int"
    assert stamp["bytes"] < stamp["merged_bytes"]
    assert "quantized token agreement" in pipeline.output  # the quickstart's parity judged it


def test_make_serve_serves_it_parity_and_eval_use_that_server(pipeline, tmp_path):
    port = free_port()
    started = run_module("serve", "start", *pipeline.base, "serve.mode=quantized", f"serve.port={port}",
                         env=pipeline.env)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-2000:]
    try:
        listed = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer pipeline-test-key"})
        assert [m["id"] for m in listed.json()["data"]] == ["quickstart-quantized"]

        checked = run_module("serve.parity", *pipeline.base, env=pipeline.env)
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
        assert "starting a temporary vLLM (quantized)" not in checked.stdout  # the one just started
        table = json.loads((pipeline.layout.parity / "parity.json").read_text())
        column = table["columns"]["quantized"]
        assert column["token_agreement"] >= column["least"] == 0.9
        assert all(row["quantized"].startswith("agree ") for row in table["rows"]), table["rows"]

        sets = sorted(str(p) for p in pipeline.layout.eval_sets.glob("*.jsonl"))
        targets = (f"[{{name: sft, model: med-merged, base_url: '{pipeline.url('merged')}'}}, "
                   f"{{name: sft-w8a8, model: quickstart-quantized, base_url: 'http://127.0.0.1:{port}/v1'}}]")
        # a run directory of its own for the report: the pipeline's eval stays as the quickstart wrote it
        done = run_module("evaluation", *pipeline.base, f"run_dir={tmp_path}", f"eval.targets={targets}",
                          "eval.suites=[choice, open]", "eval.limit=4", f"eval.sets=[{', '.join(sets)}]",
                          "--no-progress", env=pipeline.env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        results = EvalResults.load(tmp_path / "eval" / "results.json")
        assert [t["name"] for t in results.targets] == ["sft", "sft-w8a8"]
        assert all(t["failures"] == 0 for t in results.targets), results.targets
        assert results.paired["against"] == "sft" and "sft-w8a8" in results.paired["targets"]
        assert results.suites["sft-w8a8"]["open"]["n"] == results.suites["sft"]["open"]["n"] > 0
    finally:
        process.stop(pipeline.layout.pid_file("vllm-quantized"))
