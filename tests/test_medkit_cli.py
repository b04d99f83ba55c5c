"""The `medkit` command: one table of commands, a StageFailed as one line and an exit status, and the
launcher `make setup` writes into the app environment (run from the clone's root or below it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from envs import manage
from medkit.cli import COMMANDS
from tests.conftest import ROOT, run_module


def test_every_make_target_that_runs_a_stage_calls_a_medkit_command():
    makefile = (ROOT / "Makefile").read_text()
    called = {line.split("$(MEDKIT) ")[1].split()[0] for line in makefile.splitlines() if "$(MEDKIT) " in line}
    assert called == set(COMMANDS)


def test_a_command_fails_in_one_line_with_its_exit_status():
    valid = run_module("medkit", "validate", "recipes/quickstart.yaml")
    assert valid.returncode == 0 and "valid (name=quickstart" in valid.stdout
    bad = run_module("medkit", "data", "recipes/quickstart.yaml", "finetune.epochs=-1")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "finetune.epochs" in bad.stderr
    assert "Traceback" not in bad.stderr
    unknown = run_module("medkit", "trian")
    assert unknown.returncode == 2 and "unknown command 'trian'" in unknown.stderr and "train " in unknown.stderr


def test_the_launcher_runs_the_clone_it_is_started_in(tmp_path):
    launcher = manage.write_launcher(Path(sys.executable), tmp_path / "medkit")  # as make setup writes it
    assert os.access(launcher, os.X_OK)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # it finds the clone itself
    for where in (ROOT, ROOT / "tests" / "core"):
        done = subprocess.run([str(launcher), "status"], cwd=where, env=env, capture_output=True, text=True)
        assert done.returncode == 0 and ("nothing running" in done.stdout or "server" in done.stdout), done.stderr
    outside = subprocess.run([str(launcher), "status"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert outside.returncode == 1 and "inside a clone" in outside.stderr
