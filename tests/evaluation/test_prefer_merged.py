"""eval.prefer_merged: the only adapter is evaluated on the merged server when one runs for the run directory."""
from __future__ import annotations

import time

from core.layout import RunLayout
from core.recipe.load import load_recipe
from core.server_record import ServerRecord
from evaluation.evaluate import resolve_targets
from tests.conftest import ROOT


def targets(tmp_path, *overrides):
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", *overrides])
    found, _ = resolve_targets(recipe, recipe.eval)
    return {t.name: (t.model, t.base_url) for t in found}, RunLayout.of(recipe)


def merged_server_running(layout: RunLayout, model: str, serve_fake) -> str:
    """A merged model folder, a merged vLLM's record in the run directory and an OpenAI-compatible server at
    its URL that lists `model` (the check evaluation makes: over HTTP, as it talks to every server)."""
    layout.merged.mkdir(parents=True)
    layout.servers.mkdir(parents=True)
    _, url = serve_fake(lambda model, messages: "", served=[model])
    ServerRecord(name="vLLM (merged)", url=url, port=0, models=[model], log="vllm-merged.log", pid=0, pgid=0,
                 marker="vllm", started=time.time(), mode="merged").write(layout.pid_file("vllm-merged"))
    return url


def test_the_adapter_goes_to_the_running_merged_server_only_when_asked(tmp_path, serve_fake):
    mounted, layout = targets(tmp_path, "eval.prefer_merged=true")
    assert mounted["sft"][0] == "med-lora"  # no merged server: evaluated as mounted
    url = merged_server_running(layout, "med-merged", serve_fake)
    chosen, _ = targets(tmp_path, "eval.prefer_merged=true")
    assert chosen["sft"] == ("med-merged", url)
    assert chosen["base"] == mounted["base"] and chosen["sft+rag"] == mounted["sft+rag"]  # only the adapter
    assert targets(tmp_path)[0]["sft"][0] == "med-lora"  # off by default


def test_with_a_preference_adapter_only_the_sft_adapter_goes_to_the_merged_server(tmp_path, serve_fake):
    """The merged export is the SFT adapter's: the DPO adapter mounted beside it stays mounted."""
    recipe = load_recipe(ROOT / "recipes/smollm2-135m_cpu_dpo.yaml", [f"run_dir={tmp_path}/run"])
    url = merged_server_running(RunLayout.of(recipe), "smol-med-merged", serve_fake)
    found, _ = resolve_targets(recipe, recipe.eval)
    chosen = {t.name: (t.model, t.base_url) for t in found}
    assert chosen["sft"] == ("smol-med-merged", url)
    assert chosen["dpo"] == ("smol-med-dpo", "http://127.0.0.1:8000/v1")
    assert chosen["dpo+rag"] == ("smol-med-dpo-rag", "http://127.0.0.1:8100/v1")
