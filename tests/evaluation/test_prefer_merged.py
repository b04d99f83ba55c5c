"""eval.prefer_merged: the only adapter is evaluated on the merged server when one runs for the run directory."""
from __future__ import annotations

import json
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from core.layout import RunLayout
from evaluation.evaluate import resolve_targets
from recipes.load import load_recipe
from tests.conftest import ROOT


def targets(tmp_path, *overrides):
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", *overrides])
    found, _ = resolve_targets(recipe, recipe.eval)
    return {t.name: (t.model, t.base_url) for t in found}, RunLayout.of(recipe)


@contextmanager
def merged_server_running(layout: RunLayout, model: str):
    """A merged model folder and a live pid record of a merged vLLM on :8001 (a sleeping process)."""
    layout.merged.mkdir(parents=True)
    layout.servers.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    deadline = time.time() + 10  # until it runs `sleep`: the record's marker is read from its command line
    while b"sleep" not in Path(f"/proc/{sleeper.pid}/cmdline").read_bytes() and time.time() < deadline:
        time.sleep(0.01)
    try:
        layout.pid_file("vllm-merged").write_text(json.dumps({
            "name": "vLLM (merged)", "pid": sleeper.pid, "pgid": sleeper.pid, "marker": "sleep", "port": 8001,
            "url": "http://127.0.0.1:8001/v1", "models": [model], "started": time.time()}))
        yield
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_adapter_goes_to_the_running_merged_server_only_when_asked(tmp_path):
    mounted, layout = targets(tmp_path, "eval.prefer_merged=true")
    assert mounted["sft"][0] == "med-lora"  # no merged server: evaluated as mounted
    with merged_server_running(layout, "med-merged"):
        chosen, _ = targets(tmp_path, "eval.prefer_merged=true")
        assert chosen["sft"] == ("med-merged", "http://127.0.0.1:8001/v1")
        assert chosen["base"] == mounted["base"] and chosen["sft+rag"] == mounted["sft+rag"]  # only the adapter
        assert targets(tmp_path)[0]["sft"][0] == "med-lora"  # off by default


def test_with_a_preference_adapter_only_the_sft_adapter_goes_to_the_merged_server(tmp_path):
    """The merged export is the SFT adapter's: the DPO adapter mounted beside it stays mounted."""
    recipe = load_recipe(ROOT / "recipes/smollm2-135m_cpu_dpo.yaml", [f"run_dir={tmp_path}/run"])
    with merged_server_running(RunLayout.of(recipe), "smol-med-merged"):
        found, _ = resolve_targets(recipe, recipe.eval)
        chosen = {t.name: (t.model, t.base_url) for t in found}
        assert chosen["sft"] == ("smol-med-merged", "http://127.0.0.1:8001/v1")
        assert chosen["dpo"] == ("smol-med-dpo", "http://127.0.0.1:8000/v1")
        assert chosen["dpo+rag"] == ("smol-med-dpo-rag", "http://127.0.0.1:8100/v1")
