from __future__ import annotations

from pathlib import Path

from envs import lockfile, manage
from tests.conftest import ROOT


def test_env_dir_is_keyed_on_the_lock(monkeypatch, tmp_path):
    req = tmp_path / "requirements-top.txt"
    req.write_text("b==2\n")
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "top.txt").write_text(lockfile.render(req, "b==2 --hash=sha256:00\n"))
    monkeypatch.setenv("MEDKIT_ENV_HOME", str(tmp_path / "envs"))
    monkeypatch.setattr(manage, "requirements_file", lambda name: req)
    first = manage.env_dir("train")
    (tmp_path / "locks" / "top.txt").write_text(lockfile.render(req, "b==2 --hash=sha256:11\n"))
    assert manage.env_dir("train") != first  # a new lock, a new environment
    assert first.parent == tmp_path / "envs" and first.name.startswith("top-")


def test_requirements_text_follows_r_includes(tmp_path):
    (tmp_path / "requirements-base.txt").write_text("a==1\n# medkit-drop: x y\n")
    top = tmp_path / "requirements-top.txt"
    top.write_text("-r requirements-base.txt\nb==2\n")
    assert lockfile.requirements_text(top) == "a==1\n# medkit-drop: x y\nb==2\n"
    assert lockfile.dropped(top) == ["x", "y"]


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


def test_lock_of_named_variants_only(monkeypatch, capsys):
    """`manage.py lock quant` re-resolves that lock alone; an unknown name is refused before anything runs."""
    locked = []
    monkeypatch.setattr(manage, "lock_all", lambda variants=manage.LOCKED: locked.append(variants))
    assert manage.main(["lock", "quant"]) == 0 and locked == [("quant",)]
    assert manage.main(["lock"]) == 0 and locked[-1] == manage.LOCKED
    assert manage.main(["lock", "quantum"]) == 2 and len(locked) == 2
    assert "unknown lock(s) ['quantum']" in capsys.readouterr().err


def test_concurrent_setups_build_once(monkeypatch, tmp_path):
    """Two `make` runs at once: the second waits for the first instead of deleting its work."""
    import subprocess
    import sys
    req = tmp_path / "requirements-app.txt"
    req.write_text("# nothing to install\n")
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "app.txt").write_text(lockfile.render(req, ""))
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from envs import manage; from pathlib import Path; "
              f"manage.requirements_file = lambda name: Path({str(req)!r}); manage.create('app')")
    # the environment home is the tmp folder, uv the one `make setup` built (no download)
    env = {"MEDKIT_ENV_HOME": str(tmp_path / "envs"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    uv_env = manage.env_home() / Path(manage.uv_bin()).parent.parent.name
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / uv_env.name).symlink_to(uv_env)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum("creating" in o for o in outputs) == 1
    assert sum("built by another process" in o or "up to date" in o for o in outputs) == 1
