"""The generated tiny model is deterministic, and the export check catches a broken export."""
from __future__ import annotations

import json
import shutil
import subprocess

from core.recipe.load import load_recipe
from envs import bin_of
from tests.conftest import ROOT

SPEC = json.dumps(load_recipe(ROOT / "recipes/quickstart.yaml").model.tiny.model_dump())


def train_env(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([bin_of("train"), *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_tiny_model_is_byte_identical_from_the_same_seed(tmp_path):
    for name in ("a", "b"):
        done = train_env("-m", "train.tiny_model", str(tmp_path / name), SPEC)
        assert done.returncode == 0, done.stderr[-2000:]
    for file in ("model.safetensors", "tokenizer.json", "config.json", "generation_config.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    other = json.loads(SPEC) | {"seed": 1}
    train_env("-m", "train.tiny_model", str(tmp_path / "c"), json.dumps(other))
    assert (tmp_path / "c" / "model.safetensors").read_bytes() != (tmp_path / "a" / "model.safetensors").read_bytes()
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"] and config["hidden_size"] // config["num_attention_heads"] == 64
    tok = json.loads((tmp_path / "a" / "tokenizer_config.json").read_text())
    assert tok["eos_token"] == "<|im_end|>" and tok["pad_token"] == "<|endoftext|>"


def test_export_check_reports_what_is_broken(tmp_path):
    good = tmp_path / "good"
    assert train_env("-m", "train.tiny_model", str(good), SPEC).returncode == 0
    done = train_env("-m", "train.check_export", str(good), str(good))
    assert done.returncode == 0 and "FAIL" not in done.stdout, done.stdout

    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    (broken / "generation_config.json").unlink()
    (broken / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((broken / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (broken / "tokenizer_config.json").write_text(json.dumps(config))
    done = train_env("-m", "train.check_export", str(broken), str(good))
    assert done.returncode == 1
    assert "FAIL  chat template present" in done.stdout
    assert "FAIL  generation_config.json present" in done.stdout
    assert "ok    eos token set" in done.stdout
