"""Translate a recipe's serve section into vLLM's own OpenAI server command line.

vLLM does the serving; this file only chooses its flags. Three modes:
  merged     --model <merged export> --served-model-name <merged_name>
  quantized  --model <quantized copy of it> --served-model-name <quantize.served_name> (`make quantize`)
  lora       --model <base> --served-model-name <base_name>
             --enable-lora --lora-modules name=path ... --max-lora-rank <from adapter_config r>
The preference stage's adapter (preference.serve_name, default <first adapter>-dpo) is mounted too:
in lora mode when it continues the SFT adapter (start_from: adapter, so it mounts on the base
model), in merged mode when it is a LoRA on the merged SFT model (start_from: merged).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from core import cpu
from core.endpoints import api_key, preference_model, quantized_model, unresolvable, vllm_url
from core.errors import StageFailed
from core.layout import RunLayout, base_model_path, preference_dir
from core.recipe.schema import Recipe
from envs import bin_of
from envs.manage import has_nvidia_gpu
from serve import adapter_record
from serve.process import LaunchPlan

# Modules run inside vLLM's environment: the key guard for every route, not only /v1 (see its docstring),
# and `vllm serve` for headless nodes.
PLUGIN_DIR = Path(__file__).resolve().parent / "vllm_plugin"
KEY_GUARD = "medkit_key_guard.KeyGuard"

# vLLM accepts only these values for --max-lora-rank (vllm/config/lora.py).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

# What `python -m <entry>` starts: one API server, or `vllm serve` (vllm_plugin/medkit_vllm_serve.py) for a
# headless data-parallel node, which the API server's entry point cannot run.
API_SERVER = "vllm.entrypoints.openai.api_server"
VLLM_SERVE = "medkit_vllm_serve"

BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2, "float16": 2}

# vLLM's CPU LoRA ops (vllm/lora/ops/torch_ops/lora_ops.py, 0.32) gather each token's adapter
# weights with `weights[slot]`, and a base-model token's slot is -1, which PyTorch reads as the
# LAST slot: a base-model request batched beside an adapter request gets that adapter's delta,
# silently (measured: 15 of 16 base replies became the adapter's; vLLM PR #48421, open). The GPU
# kernels skip -1. On CPU the server gets one slot more than it may fill, so the last slot stays
# zeros; `make adapter` keeps the served count below it, `make parity` checks a mixed batch.
SPARE_LORA_SLOT = 1


def adapter_paths(recipe: Recipe) -> dict[str, Path]:
    """The recipe's adapters, with what `make adapter` added and removed while serving
    (recorded in the run directory, so a restart mounts the same set)."""
    changes = adapter_record.read(recipe)
    paths = {a.name: Path(a.path) if a.path else RunLayout.of(recipe).trained for a in recipe.serve.adapters}
    paths.update(preference_paths(recipe, "lora"))
    paths = {name: path for name, path in paths.items() if name not in changes["removed"]}
    return {**paths, **{name: Path(path) for name, path in changes["added"].items()}}


def preference_paths(recipe: Recipe, mode: str) -> dict[str, Path]:
    """{served name: folder} of the preference adapter when it mounts on what `mode` serves, else {}."""
    pref = recipe.preference
    if pref is None or mode != ("lora" if pref.start_from == "adapter" else "merged"):
        return {}
    return {preference_model(recipe): preference_dir(recipe)}


# vLLM 0.32's CPU kernel for int4 weights (CPUWNA16) multiplies in 16 bits only: "cpu_gemm_wna16 not
# implemented for 'Float'" at the first request of a float32 server
SIXTEEN_BIT_ONLY = ("w4a16",)


def quantized_scheme(recipe: Recipe) -> str:
    """The scheme `make quantize` stamped on the quantized model (the recipe may have changed since)."""
    return json.loads(RunLayout.of(recipe).quantize_done.read_text())["scheme"]


def model_path(recipe: Recipe, mode: str) -> str:
    """What the server of `mode` loads: the merged export, its quantized copy, or the base model the
    adapters mount on."""
    layout = RunLayout.of(recipe)
    if mode == "quantized":
        return str(layout.quantized.resolve())
    return str(layout.merged.resolve()) if mode == "merged" else base_model_path(recipe)


def allowed_rank(r: int, what: str) -> int:
    """`r` rounded up to a rank vLLM accepts."""
    for allowed in VLLM_LORA_RANKS:
        if r <= allowed:
            return allowed
    raise StageFailed(f"{what} has rank {r}; vLLM supports at most {VLLM_LORA_RANKS[-1]}")


def lora_rank(adapter: Path) -> int:
    """The adapter's `r`, rounded up to a rank vLLM accepts."""
    config = adapter / "adapter_config.json"
    if not config.exists():
        raise StageFailed(f"no LoRA adapter at {adapter}/ (adapter_config.json missing); "
                          f"run `make train` first or fix serve.adapters[].path")
    return allowed_rank(int(json.loads(config.read_text())["r"]), f"adapter {adapter}")


def weights_gib(model_dir: str, dtype: str) -> float:
    """The weights of the checkpoint in `model_dir` in memory once converted to `dtype` (0 where unknown)."""
    folder = Path(model_dir)
    files = [*folder.glob("*.safetensors"), *folder.glob("*.bin")] if folder.is_dir() else []
    size = sum(f.stat().st_size for f in files)
    config = folder / "config.json"
    stored = json.loads(config.read_text()).get("torch_dtype") if config.exists() else None
    scale = BYTES_PER_PARAM[dtype] / BYTES_PER_PARAM[stored] if {dtype, stored} <= set(BYTES_PER_PARAM) else 1.0
    return size / 2**30 * scale


def replicas_fit(recipe: Recipe, model_dir: str, dtype: str) -> None:
    """On CPU every replica on this node computes on a core of its own and holds its own weights and KV cache
    (serve.cpu_kvcache_space_gib); StageFailed naming the keys when this machine cannot hold them."""
    s = recipe.serve
    replicas = s.data_parallel_nodes.size_local if s.data_parallel_nodes else s.data_parallel_size
    if replicas == 1:
        return
    key = "serve.data_parallel_nodes.size_local" if s.data_parallel_nodes else "serve.data_parallel_size"
    cores = os.cpu_count() or 1
    if replicas > cores:
        raise StageFailed(f"{key} asks for {replicas} replicas on this machine, which has {cores} cores: each "
                          f"replica's worker computes on a core of its own (at most {cores} here)")
    need, available = replicas * (s.cpu_kvcache_space_gib + weights_gib(model_dir, dtype)), cpu.mem_available_gib()
    if available is not None and need > available:
        raise StageFailed(f"{key} asks for {replicas} replicas, each with its weights and "
                          f"serve.cpu_kvcache_space_gib={s.cpu_kvcache_space_gib} GiB of KV cache: {need:.1f} GiB, and "
                          f"{available:.1f} GiB is available; serve fewer replicas or lower cpu_kvcache_space_gib")


def worker_cores(workers: int) -> str | None:
    """VLLM_CPU_OMP_THREADS_BIND for an engine of several CPU workers (tensor x pipeline parallel): this
    process's cores split into one contiguous range per worker ("0|1", "0-3|4-7"). vLLM's auto binding wants
    a NUMA node per worker and refuses to start on fewer ("Not enough allowed NUMA nodes"); None for one
    worker (auto does well) or where the NUMA nodes suffice."""
    if workers == 1 or cpu.numa_nodes() >= workers:
        return None
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        raise StageFailed(f"serve.tensor_parallel_size x serve.pipeline_parallel_size = {workers} CPU workers, "
                          f"and this machine lets vLLM use {len(cores)} cores: at most {len(cores)} here")
    share = len(cores) // workers
    ranges = [cores[i * share:(i + 1) * share] for i in range(workers)]
    return "|".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in ranges)


def data_parallel_args(recipe: Recipe) -> list[str]:
    """vLLM's data-parallel flags: replicas in all, and with serve.data_parallel_nodes this node's share."""
    s, nodes = recipe.serve, recipe.serve.data_parallel_nodes
    argv = ["--data-parallel-size", str(s.data_parallel_size)] if s.data_parallel_size > 1 else []
    if nodes is None:
        return argv
    why = unresolvable(nodes.address)
    if why:
        raise StageFailed(f"serve.data_parallel_nodes.address {nodes.address!r} does not resolve ({why}); "
                          f"give node 0's address as every node reaches it")
    argv += ["--data-parallel-size-local", str(nodes.size_local), "--data-parallel-address", nodes.address,
             "--data-parallel-rpc-port", str(nodes.rpc_port)]
    if nodes.headless:  # start rank 0 stays vLLM's default: given, it would switch node 0 to hybrid balancing
        argv += ["--headless", "--data-parallel-start-rank", str(nodes.start_rank)]
    return argv


def plan(recipe: Recipe, mode: str | None = None, port: int | None = None) -> LaunchPlan:
    s = recipe.serve
    mode = mode or s.mode
    port = port or s.port
    gpu = has_nvidia_gpu()
    if s.distributed_executor_backend == "ray" and not gpu:
        raise StageFailed("serve.distributed_executor_backend is 'ray', and this machine has no GPU: vLLM's "
                          "CPU build runs its workers with the mp executor and the serve environment has no Ray "
                          "(vLLM issue #21602); leave it unset (or mp) here, keep ray for GPU machines")
    if mode == "merged":
        if not RunLayout.of(recipe).has_merged:
            raise StageFailed(f"no merged model in {RunLayout.of(recipe).merged}/; run `make export` first "
                              f"(or serve the adapter with serve.mode=lora)")
        names = [s.merged_name or f"{recipe.name}-merged"]
    elif mode == "quantized":
        if not RunLayout.of(recipe).quantize_done.exists():
            raise StageFailed(f"no quantized model in {RunLayout.of(recipe).quantized}/; run `make quantize` first")
        names = [quantized_model(recipe)]
    else:
        names = [s.base_name]
    model_arg = model_path(recipe, mode)
    # A flag only where it changes something: vLLM's defaults are dtype auto, parallel sizes 1
    # and --generation-config auto (EOS and sampling defaults from the model's generation_config.json).
    # /tokenizer_info: lm-evaluation-harness's remote tokenizer reads it (local-completions with
    # tokenizer_backend=remote), so its figures use the server's own tokenizer, as make eval does
    headless = s.data_parallel_nodes is not None and s.data_parallel_nodes.headless
    argv = [bin_of("serve"), "-m", VLLM_SERVE if headless else API_SERVER,
            "--model", model_arg, "--served-model-name", names[0], "--host", s.host, "--port", str(port),
            "--enable-tokenizer-info-endpoint"]
    # auto: on CPU the dtype this CPU computes natively (core/cpu.py), where vLLM's own auto takes bfloat16
    # for a float32 checkpoint even on CPUs that only emulate it; on a GPU vLLM's auto
    dtype = s.dtype if s.dtype != "auto" or gpu else cpu.serving_dtype()
    if mode == "quantized" and not gpu and dtype == "float32" and quantized_scheme(recipe) in SIXTEEN_BIT_ONLY:
        print(f"== serve: {quantized_scheme(recipe)} computes in 16 bits on vLLM's CPU build; serving it in "
              f"bfloat16 (serve.dtype is {s.dtype})", flush=True)
        dtype = "bfloat16"
    if dtype != "auto":
        argv += ["--dtype", dtype]
    if s.tensor_parallel_size > 1:
        argv += ["--tensor-parallel-size", str(s.tensor_parallel_size)]
    if s.pipeline_parallel_size > 1:
        argv += ["--pipeline-parallel-size", str(s.pipeline_parallel_size)]
    argv += data_parallel_args(recipe)
    if not gpu:
        replicas_fit(recipe, model_arg, dtype)
    if s.enforce_eager:
        argv.append("--enforce-eager")
    if recipe.model.trust_remote_code:
        argv.append("--trust-remote-code")
    if s.max_model_len:
        argv += ["--max-model-len", str(s.max_model_len)]
    if s.max_num_seqs:
        argv += ["--max-num-seqs", str(s.max_num_seqs)]
    if s.distributed_executor_backend:
        argv += ["--distributed-executor-backend", s.distributed_executor_backend]
    if gpu:
        argv += ["--gpu-memory-utilization", str(s.gpu_memory_utilization)]
    max_rank = max_adapters = None
    # the quantized model mounts nothing: a LoRA trained on the full-precision weights is not its delta
    adapters = adapter_paths(recipe) if mode == "lora" else preference_paths(recipe, mode)
    if adapters or (mode == "lora" and s.runtime_adapters):
        max_rank = allowed_rank(max([lora_rank(path) for path in adapters.values()] + [s.max_lora_rank or 1]),
                                "serve.max_lora_rank")
        max_adapters = s.max_loras or max(1, len(adapters))
        slots = max_adapters if gpu else max_adapters + SPARE_LORA_SLOT
        argv += ["--enable-lora", "--max-lora-rank", str(max_rank), "--max-loras", str(slots)]
        if adapters:
            argv += ["--lora-modules", *[f"{name}={path.resolve()}" for name, path in adapters.items()]]
        names += list(adapters)
    argv += s.extra_args
    env = {}
    if mode == "lora" and s.runtime_adapters:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "1"  # /v1/load_lora_adapter and /v1/unload_lora_adapter
    if not gpu:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(s.cpu_kvcache_space_gib)  # GiB
        bind = s.cpu_threads_bind or worker_cores(s.tensor_parallel_size * s.pipeline_parallel_size)
        if bind:
            env["VLLM_CPU_OMP_THREADS_BIND"] = bind
    if recipe.model.offline:
        env["HF_HUB_OFFLINE"] = "1"
    key = api_key(recipe)
    if key:
        env["VLLM_API_KEY"] = key  # via the environment, so the key never shows in `ps`
        # vLLM's own check covers /v1 and a few prefixes only; the guard covers the rest
        argv += ["--middleware", KEY_GUARD]
    if key or headless:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGIN_DIR), os.environ.get("PYTHONPATH")) if p)
    return LaunchPlan(argv=argv, env=env, models=names, url=vllm_url(recipe, port), host=s.host, port=port,
                      max_lora_rank=max_rank, max_adapters=None if gpu else max_adapters,
                      autogroup_nice=0 if gpu else s.cpu_autogroup_nice, dtype=dtype,
                      data_parallel_size=s.data_parallel_size, headless=headless)
