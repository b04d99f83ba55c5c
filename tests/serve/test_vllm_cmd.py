from __future__ import annotations

import json
import os

import pytest

from core.errors import StageFailed
from core.recipe.load import load_recipe
from serve.vllm_cmd import PLUGIN_DIR, lora_rank, plan
from tests.conftest import ROOT


def fake_adapter(path, r):
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"r": r}))
    return path


@pytest.mark.parametrize("r,expected", [(1, 1), (8, 8), (12, 16), (16, 16), (33, 64), (300, 320)])
def test_lora_rank_rounds_up_to_what_vllm_accepts(tmp_path, r, expected):
    assert lora_rank(fake_adapter(tmp_path / "a", r)) == expected


def test_lora_rank_beyond_vllm_limit(tmp_path):
    with pytest.raises(StageFailed, match="at most 512"):
        lora_rank(fake_adapter(tmp_path / "a", 1024))


def test_lora_plan_mounts_every_adapter_and_hides_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    monkeypatch.setenv("MEDKIT_API_KEY", "s3cret")
    own = fake_adapter(tmp_path / "run" / "adapter", 16)
    other = fake_adapter(tmp_path / "other", 64)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [
        f"run_dir={tmp_path}/run", "serve.adapters.1.name=second", f"serve.adapters.1.path={other}",
        "serve.tensor_parallel_size=2", "serve.distributed_executor_backend=mp"])
    launch = plan(recipe)
    argv = " ".join(launch.argv)
    assert "-m vllm.entrypoints.openai.api_server" in argv
    assert f"--lora-modules med-lora={own.resolve()} second={other.resolve()}" in argv
    # two adapters, and on CPU a spare slot vLLM's CPU LoRA ops read for base-model tokens (SPARE_LORA_SLOT)
    assert "--max-lora-rank 64" in argv and "--max-loras 3" in argv and "--enable-lora" in argv
    assert launch.max_adapters == 2
    assert "--served-model-name base" in argv and "--max-model-len 2048" in argv
    assert "--tensor-parallel-size 2" in argv and "--distributed-executor-backend mp" in argv
    assert "s3cret" not in argv and launch.env["VLLM_API_KEY"] == "s3cret"
    # vLLM's own check covers /v1 only: the guard, importable from its own folder, covers every route
    assert "--middleware medkit_key_guard.KeyGuard" in argv
    assert launch.env["PYTHONPATH"].split(os.pathsep)[0] == str(PLUGIN_DIR)
    assert launch.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert launch.models == ["base", "med-lora", "second"]
    assert launch.url == "http://127.0.0.1:8000/v1"


def test_merged_plan_needs_an_export(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.mode=merged"])
    with pytest.raises(StageFailed, match="run `make export` first"):
        plan(recipe)
    (tmp_path / "run" / "merged").mkdir(parents=True)
    (tmp_path / "run" / "merged" / "config.json").write_text("{}")
    launch = plan(recipe)
    assert "--served-model-name med-merged" in " ".join(launch.argv) and "--enable-lora" not in launch.argv
    assert "--middleware" not in launch.argv and "PYTHONPATH" not in launch.env  # no key, no guard


def test_lora_plan_without_training_says_what_to_run(tmp_path):
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run"])
    with pytest.raises(StageFailed, match="run `make train` first"):
        plan(recipe)


def test_plan_passes_only_flags_that_change_vllm_defaults(tmp_path, monkeypatch):
    """Parallel sizes of 1, dtype auto (on a GPU) and --generation-config auto are vLLM's defaults: not passed."""
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    fake_adapter(tmp_path / "run" / "adapter", 16)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.dtype=auto",
                                                             "serve.enforce_eager=false"])
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "gpu")
    monkeypatch.setattr("serve.vllm_cmd.bin_of", lambda env: f"envs/{env}/bin/python")  # no GPU env built here
    argv = plan(recipe).argv
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    for flag in ("--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size", "--dtype",
                 "--generation-config", "--middleware", "--enforce-eager"):
        assert flag not in argv, flag
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [
        f"run_dir={tmp_path}/run", "serve.pipeline_parallel_size=2", "serve.dtype=float32", "serve.enforce_eager=true",
        "serve.data_parallel_size=2"])
    argv = " ".join(plan(recipe).argv)
    assert "--pipeline-parallel-size 2" in argv and "--dtype float32" in argv and "--data-parallel-size 2" in argv
    assert "--tensor-parallel-size" not in argv
    assert "--enforce-eager" in argv  # serve.enforce_eager: no torch.compile at start-up


def test_runtime_adapters_plan_uses_the_recorded_set_and_the_rank_setting(tmp_path, monkeypatch):
    from serve import adapter_record
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    fake_adapter(tmp_path / "run" / "adapter", 8)
    extra = fake_adapter(tmp_path / "extra", 16)
    base = [f"run_dir={tmp_path}/run"]
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", base)
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" not in plan(recipe).env  # off unless the recipe asks
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.runtime_adapters=true",
                                                                   "serve.max_lora_rank=32"])
    adapter_record.write(recipe, {"added": {"extra": str(extra)}, "removed": ["med-lora"], "served": {}})
    launch = plan(recipe)
    argv = " ".join(launch.argv)
    assert launch.env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "1"
    assert launch.models == ["base", "extra"] and f"--lora-modules extra={extra.resolve()}" in argv
    assert "--max-lora-rank 32" in argv and launch.max_lora_rank == 32
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.runtime_adapters=true",
                                                                   "serve.max_lora_rank=1000"])
    with pytest.raises(StageFailed, match="serve.max_lora_rank has rank 1000"):
        plan(recipe)


def test_the_preference_adapter_is_mounted_beside_the_sft_one(tmp_path, monkeypatch):
    """start_from adapter: the DPO adapter (SFT + preference) mounts on the base model as <first>-dpo;
    start_from merged: it is a LoRA on the merged model, mounted in merged mode."""
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    own = fake_adapter(tmp_path / "run" / "adapter", 16)
    dpo = fake_adapter(tmp_path / "run" / "adapter-dpo", 16)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "preference.max_steps=2"])
    launch = plan(recipe)
    assert f"--lora-modules med-lora={own.resolve()} med-lora-dpo={dpo.resolve()}" in " ".join(launch.argv)
    assert launch.models == ["base", "med-lora", "med-lora-dpo"] and "--max-loras 3" in " ".join(launch.argv)

    named = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "preference.serve_name=med-dpo"])
    assert plan(named).models == ["base", "med-lora", "med-dpo"]

    merged = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "preference.start_from=merged"])
    assert plan(merged).models == ["base", "med-lora"]  # a LoRA on the merged model does not fit the base
    (tmp_path / "run" / "merged").mkdir()
    (tmp_path / "run" / "merged" / "config.json").write_text("{}")
    on_merged = plan(merged, mode="merged")
    assert on_merged.models == ["med-merged", "med-lora-dpo"] and "--enable-lora" in on_merged.argv


def test_a_preference_served_name_that_clashes_is_a_recipe_error(tmp_path):
    from core.recipe.load import RecipeError
    with pytest.raises(RecipeError, match="preference.serve_name"):
        load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}", "preference.serve_name=base"])


def test_gpu_servers_get_no_spare_lora_slot(tmp_path, monkeypatch):
    """vLLM's GPU kernels skip base-model tokens; only its CPU ops need the spare slot."""
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    fake_adapter(tmp_path / "run" / "adapter", 16)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.max_loras=3"])
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "gpu")
    monkeypatch.setattr("serve.vllm_cmd.bin_of", lambda env: f"envs/{env}/bin/python")  # no GPU env built here
    gpu = plan(recipe)
    assert "--max-loras 3" in " ".join(gpu.argv) and gpu.max_adapters is None
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    cpu = plan(recipe)
    assert "--max-loras 4" in " ".join(cpu.argv) and cpu.max_adapters == 3


def test_cores_are_vllms_own_binding_and_the_quickstart_splits_them_between_its_two_servers(tmp_path, monkeypatch):
    from scripts.quickstart import merged_twin, split_cores
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    fake_adapter(tmp_path / "run" / "adapter", 16)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.cpu_threads_bind=1"])
    assert plan(recipe).env["VLLM_CPU_OMP_THREADS_BIND"] == "1"
    split_cores(recipe, twin := merged_twin(recipe))
    assert recipe.serve.cpu_threads_bind == "1" and twin.serve.cpu_threads_bind == "1"  # the recipe's own: kept
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run"])
    assert "VLLM_CPU_OMP_THREADS_BIND" not in plan(recipe).env  # vLLM's auto binding
    twin = merged_twin(recipe)
    split_cores(recipe, twin)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("one core: nothing to split")
    lora, merged = ([int(c) for c in r.serve.cpu_threads_bind.split(",")] for r in (recipe, twin))
    assert lora and merged and sorted(lora + merged) == cores and not set(lora) & set(merged)


def test_cpu_servers_get_the_recipes_autogroup_nice_and_gpu_servers_none(tmp_path, monkeypatch):
    """vLLM's CPU processes busy-wait; serve.cpu_autogroup_nice (default 10) lowers their session's
    share so clients in other sessions get a core. A GPU server's worker waits on the GPU: left alone."""
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    fake_adapter(tmp_path / "run" / "adapter", 16)
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    assert plan(load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run"])).autogroup_nice == 10
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.cpu_autogroup_nice=0"])
    assert plan(recipe).autogroup_nice == 0
    from serve.servers import vllm_server
    recipe.serve.cpu_autogroup_nice = 5
    assert vllm_server(recipe).plan.autogroup_nice == 5  # what make serve passes to serve/process.py
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "gpu")
    monkeypatch.setattr("serve.vllm_cmd.bin_of", lambda env: f"envs/{env}/bin/python")  # no GPU env built here
    assert plan(recipe).autogroup_nice == 0
    with pytest.raises(Exception, match="cpu_autogroup_nice"):
        load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.cpu_autogroup_nice=-5"])


@pytest.mark.parametrize("flags, expected", [({"avx2"}, "float32"), ({"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),
                                             ({"avx2", "amx_bf16"}, "bfloat16"), (set(), "float32")])
def test_cpu_dtype_auto_is_what_the_cpu_computes_natively_unless_the_recipe_pins_it(tmp_path, monkeypatch,
                                                                                      flags, expected):
    """vLLM's own auto serves a float32 checkpoint in bfloat16 on every CPU, also where it is emulated."""
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    monkeypatch.setattr("core.cpu.flags", lambda: frozenset(flags))
    fake_adapter(tmp_path / "run" / "adapter", 16)
    auto = plan(load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.dtype=auto"]))
    assert f"--dtype {expected}" in " ".join(auto.argv) and auto.dtype == expected
    pinned = plan(load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run", "serve.dtype=float16"]))
    assert "--dtype float16" in " ".join(pinned.argv) and pinned.dtype == "float16"


def test_ray_is_refused_on_a_cpu_machine_and_passed_on_a_gpu_one(tmp_path, monkeypatch):
    """vLLM's CPU build runs its workers with the mp executor and the serve environment has no Ray."""
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    fake_adapter(tmp_path / "run" / "adapter", 16)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/run",
                                                             "serve.distributed_executor_backend=ray"])
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    with pytest.raises(StageFailed, match=r"serve.distributed_executor_backend is 'ray'.*no GPU.*leave it unset"):
        plan(recipe)
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "gpu")
    monkeypatch.setattr("serve.vllm_cmd.bin_of", lambda env: f"envs/{env}/bin/python")  # no GPU env built here
    assert "--distributed-executor-backend ray" in " ".join(plan(recipe).argv)


NODES = ["serve.data_parallel_size=2", "serve.data_parallel_nodes.size_local=1",
         "serve.data_parallel_nodes.address=127.0.0.1", "serve.data_parallel_nodes.rpc_port=13345"]


def test_node_0_serves_the_api_and_the_next_node_runs_headless(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    monkeypatch.delenv("MEDKIT_API_KEY", raising=False)
    fake_adapter(tmp_path / "run" / "adapter", 8)
    base = [f"run_dir={tmp_path}/run", "serve.port=8123", *NODES]
    head = plan(load_recipe(ROOT / "recipes/quickstart.yaml", base))
    argv = " ".join(head.argv)
    assert "-m vllm.entrypoints.openai.api_server" in argv and not head.headless
    assert ("--data-parallel-size 2 --data-parallel-size-local 1 --data-parallel-address 127.0.0.1 "
            "--data-parallel-rpc-port 13345") in argv
    assert "--headless" not in argv and "--data-parallel-start-rank" not in argv
    node = plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.data_parallel_nodes.start_rank=1"]))
    argv = " ".join(node.argv)
    assert "-m medkit_vllm_serve" in argv and node.headless
    assert "--headless --data-parallel-start-rank 1" in argv and "--lora-modules med-lora=" in argv
    assert node.env["PYTHONPATH"].split(os.pathsep)[0] == str(PLUGIN_DIR)  # where medkit_vllm_serve lives
    assert node.url == "http://127.0.0.1:8123/v1"  # node 0's API, which serves every node's replicas


def test_data_parallel_that_does_not_fit_this_machine_fails_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    fake_adapter(tmp_path / "run" / "adapter", 8)
    base = [f"run_dir={tmp_path}/run"]
    unknown = [*NODES[:2], "serve.data_parallel_nodes.address=no-such-node.invalid", NODES[3]]
    with pytest.raises(StageFailed, match="serve.data_parallel_nodes.address 'no-such-node.invalid' does not resolve"):
        plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + unknown))
    many = f"serve.data_parallel_size={(os.cpu_count() or 1) + 1}"
    with pytest.raises(StageFailed, match=f"serve.data_parallel_size asks for {(os.cpu_count() or 1) + 1} replicas "
                                         f"on this machine, which has {os.cpu_count()} cores"):
        plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + [many]))
    monkeypatch.setattr("core.cpu.mem_available_gib", lambda: 1.5)
    with pytest.raises(StageFailed, match="serve.data_parallel_size asks for 2 replicas, each with its weights and "
                                         "serve.cpu_kvcache_space_gib=1 GiB of KV cache: 2.0 GiB, and 1.5 GiB"):
        plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.data_parallel_size=2"]))
    assert plan(load_recipe(ROOT / "recipes/quickstart.yaml", base)).argv  # one replica: nothing to check


def test_tensor_parallel_workers_on_one_numa_node_get_the_cores_split_among_them(tmp_path, monkeypatch):
    """vLLM's auto binding wants a NUMA node per CPU worker and refuses to start on fewer (measured here:
    "Not enough allowed NUMA nodes to bind threads of 2 local CPUWorkers"); -tp 2 with "0|1" served."""
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    monkeypatch.setattr("core.cpu.numa_nodes", lambda: 1)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    fake_adapter(tmp_path / "run" / "adapter", 8)
    base = [f"run_dir={tmp_path}/run"]
    assert plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.tensor_parallel_size=2"])
                ).env["VLLM_CPU_OMP_THREADS_BIND"] == "0-3|4-7"
    assert plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.tensor_parallel_size=2",
                "serve.pipeline_parallel_size=4"])).env["VLLM_CPU_OMP_THREADS_BIND"] == "0|1|2|3|4|5|6|7"
    assert "VLLM_CPU_OMP_THREADS_BIND" not in plan(load_recipe(ROOT / "recipes/quickstart.yaml", base)).env
    assert plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.tensor_parallel_size=2",
                "serve.cpu_threads_bind=nobind"])).env["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"  # the recipe's wins
    with pytest.raises(StageFailed, match="= 16 CPU workers, and this machine lets vLLM use 8 cores"):
        plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + ["serve.tensor_parallel_size=16"]))
    monkeypatch.setattr("core.cpu.numa_nodes", lambda: 2)  # a node per worker: vLLM's auto binding does it
    assert "VLLM_CPU_OMP_THREADS_BIND" not in plan(load_recipe(ROOT / "recipes/quickstart.yaml", base + [
        "serve.tensor_parallel_size=2"])).env
