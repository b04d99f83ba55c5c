"""Paths of the environments, for code that runs in the app environment."""
from __future__ import annotations

from pathlib import Path

from core.errors import StageFailed
from envs.manage import env_dir, is_ready


def bin_of(env: str, program: str = "python") -> str:
    """An executable inside environment `env`; a clear error when it is not built."""
    if not is_ready(env):
        raise StageFailed(f"environment '{env}' is not built ({env_dir(env)}): run `make setup`")
    return str(Path(env_dir(env)) / "bin" / program)
