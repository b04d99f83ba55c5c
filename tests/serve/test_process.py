"""Process control with real child processes (no vLLM needed here)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.cpu import autogroups_enabled
from core.errors import StageFailed
from envs import bin_of
from serve import process
from serve.process import LaunchPlan, ServerSpec


def spec_of(name, argv, port, models, pid_file, log, timeout_s) -> ServerSpec:
    plan = LaunchPlan(argv=argv, env={}, models=models, url=f"http://127.0.0.1:{port}/v1", host="127.0.0.1", port=port)
    return ServerSpec(name=name, plan=plan, pid_file=pid_file, log=log, timeout_s=timeout_s)
from tests.conftest import run_module


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()[:1] != "Z"


def models_server(port: int) -> str:
    """A Python program serving GET /v1/models with one model, m1, on `port`."""
    return ("import http.server, json\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        body = json.dumps({'data': [{'id': 'm1'}]}).encode()\n"
            "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
            f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n")


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StageFailed, match=f"port {port} on 127.0.0.1 is already in use.*serve.port={port + 1}"):
            process.start(spec_of("x", [sys.executable, "-c", "pass"],
                                  port, ["m"], tmp_path / "x.json", tmp_path / "x.log", 5))
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_server_dying_at_start_shows_log_tail_and_leaves_nothing(tmp_path):
    # parent prints, forks a grandchild that would linger, then fails: the whole group must go
    script = ("import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              "print('loading model... ValueError: no such model', flush=True); time.sleep(0.5); sys.exit(3)")
    port = process.free_port()
    with pytest.raises(StageFailed) as info:
        process.start(spec_of("fake server", [sys.executable, "-c", script],
                              port, ["m"], tmp_path / "s.json", tmp_path / "s.log", 30))
    message = str(info.value)
    assert "exited with status 3" in message and "ValueError: no such model" in message
    assert not (tmp_path / "s.json").exists()
    time.sleep(0.5)
    leftovers = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True, text=True).stdout.split()
    assert leftovers == []


@pytest.mark.slow
def test_server_never_ready_times_out_and_is_stopped(tmp_path):
    port = process.free_port()
    argv = [sys.executable, "-c", "import time; print('stuck', flush=True); time.sleep(120)"]
    with pytest.raises(StageFailed, match="(?s)not ready after 2 s.*stuck"):
        process.start(spec_of("slow", argv, port, ["m"], tmp_path / "t.json", tmp_path / "t.log", 2))
    assert subprocess.run(["pgrep", "-f", "time.sleep\\(120\\)"], capture_output=True).returncode == 1


@pytest.mark.slow
def test_start_wait_status_stop_with_a_real_http_server(tmp_path):
    port = process.free_port()
    server = models_server(port)
    pid_file = tmp_path / "run" / "serve" / "fake.json"
    record = process.start(spec_of("fake", [sys.executable, "-c", server],
                                   port, ["m1"], pid_file, tmp_path / "f.log", 20))
    assert alive(record.pid) and json.loads(pid_file.read_text())["port"] == port
    again = process.start(spec_of("fake", [sys.executable, "-c", server],
                                  port, ["m1"], pid_file, tmp_path / "f.log", 20))
    assert again.pid == record.pid, "a second start reuses the running server"
    listed = run_module("serve", "status", str(tmp_path))
    assert f"{port}" in listed.stdout and "m1" in listed.stdout
    assert "fake" in process.stop(pid_file)
    time.sleep(0.3)
    assert not alive(record.pid) and not pid_file.exists()
    assert process.stop(pid_file) is None  # stopping twice is harmless


def test_stale_pid_file_never_kills_an_unrelated_process(tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    pid_file = tmp_path / "stale.json"
    pid_file.write_text(json.dumps({"name": "vLLM", "pid": other.pid, "pgid": other.pid, "port": 1,
                                    "url": "", "models": [], "log": "", "marker": "vllm.entrypoints",
                                    "started": 0}))
    assert process.stop(pid_file) is None
    assert other.poll() is None and not pid_file.exists()
    other.kill()


def test_make_stop_when_nothing_runs_is_harmless(tmp_path):
    done = run_module("serve", "stop", "recipes/quickstart.yaml", f"run_dir={tmp_path}/run")
    assert done.returncode == 0 and "nothing running for 'quickstart'" in done.stdout


# The leader spawns two workers: one plain, one that sets its process title as vLLM's EngineCore and
# Worker do (setproctitle, from the serve environment), which blanks its /proc/<pid>/environ.
WORKER_SERVER = ("import http.server, json, subprocess, sys\n"
                 "plain = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
                 "titled = subprocess.Popen([{serve_py!r}, '-c', 'import setproctitle, time; "
                 "setproctitle.setproctitle(\\'FAKE::EngineCore\\'); time.sleep(300)'])\n"
                 "class H(http.server.BaseHTTPRequestHandler):\n"
                 "    def do_GET(self):\n"
                 "        body = json.dumps({{'data': [{{'id': 'm1'}}]}}).encode()\n"
                 "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
                 "http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n")


def session_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def in_session(sid: int) -> list[int]:
    """Every live, non-zombie process of session `sid` (read here independently of serve.process)."""
    return [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and session_of(int(d.name)) == sid
            and alive(int(d.name))]


@pytest.fixture(autouse=True)
def _no_fake_server_outlives_its_test():
    started.clear()
    yield
    for sid in started:  # only when a test failed half-way: its sessions' processes must not linger
        for pid in in_session(sid):
            os.kill(pid, signal.SIGKILL)


started: list[int] = []


def start_with_workers(tmp_path, port: int) -> tuple[dict, list[int]]:
    """A server whose leader spawned workers, like vLLM's API server and its EngineCore."""
    argv = [sys.executable, "-c", WORKER_SERVER.format(port=port, serve_py=bin_of("serve"))]
    record = process.start(spec_of("fake", argv,
                                   port, ["m1"], tmp_path / "run" / "serve" / "fake.json", tmp_path / "f.log", 20))
    started.append(record.pgid)
    deadline = time.time() + 20
    while not any("FAKE::EngineCore" in process.cmdline(p) for p in in_session(record.pgid)):
        assert time.time() < deadline, "the titled worker did not start"
        time.sleep(0.1)
    workers = [pid for pid in in_session(record.pgid) if pid != record.pid]
    assert len(workers) == 2
    titled = next(p for p in workers if "FAKE::EngineCore" in process.cmdline(p))
    environ = Path(f"/proc/{titled}/environ").read_bytes()
    assert b"MEDKIT_SERVER_TAG" not in environ and environ[:1] == b"\0"  # the title blanked it
    assert process.server_pids(record) == sorted([record.pid, *workers])
    return record, workers


@pytest.mark.slow
def test_leftovers_of_a_killed_leader_are_listed_and_stopped(tmp_path):
    port = process.free_port()
    record, workers = start_with_workers(tmp_path, port)
    os.kill(record.pid, signal.SIGKILL)  # the leader only: its workers live on, as vLLM's engine does
    os.waitpid(record.pid, 0)
    assert all(alive(w) for w in workers)
    listed = run_module("serve", "status", str(tmp_path)).stdout
    assert "LEADER GONE" in listed and all(str(w) in listed for w in workers)
    message = process.stop(tmp_path / "run" / "serve" / "fake.json")
    assert "had died" in message and all(str(w) in message for w in workers)
    assert in_session(record.pgid) == [] and not any(alive(w) for w in workers)
    assert "nothing running" in run_module("serve", "status", str(tmp_path)).stdout


@pytest.mark.slow
def test_start_clears_the_leftovers_of_a_killed_leader_first(tmp_path):
    port = process.free_port()
    record, workers = start_with_workers(tmp_path, port)
    os.kill(record.pid, signal.SIGKILL)
    os.waitpid(record.pid, 0)
    again, new_workers = start_with_workers(tmp_path, port)
    assert again.pid != record.pid and in_session(record.pgid) == []
    process.stop(tmp_path / "run" / "serve" / "fake.json")
    assert in_session(again.pgid) == []


@pytest.mark.slow
def test_a_process_outside_the_server_is_never_touched(tmp_path):
    port = process.free_port()
    record, _ = start_with_workers(tmp_path, port)
    bystander = subprocess.Popen(["sleep", "30"])  # same user, same group as the test: not the server's
    try:
        assert bystander.pid not in process.server_pids(record)
        process.stop(tmp_path / "run" / "serve" / "fake.json")
        assert bystander.poll() is None
    finally:
        bystander.kill()


def autogroup_nice(pid: int) -> int | None:
    """The nice value of the autogroup of `pid`; None for the root group (init's session, where CI may run
    the suite): the kernel prints nothing for it."""
    text = Path(f"/proc/{pid}/autogroup").read_text()
    return int(text.split("nice")[1]) if "nice" in text else None


@pytest.mark.slow
@pytest.mark.skipif(not autogroups_enabled(), reason="the kernel has no scheduler autogroups")
def test_a_server_gets_its_own_autogroup_at_the_nice_value_it_was_given(tmp_path):
    """serve.cpu_autogroup_nice: the server's session (its own CFS group) runs at that nice value,
    which a client in another session never inherits; 0 leaves the group alone."""
    mine = autogroup_nice(os.getpid())
    found = {}
    for nice in (10, 0):
        port = process.free_port()
        server = models_server(port)
        pid_file = tmp_path / f"nice{nice}.json"
        spec = spec_of("fake", [sys.executable, "-c", server], port, ["m1"], pid_file, tmp_path / "f.log", 20)
        record = process.start(replace(spec, plan=replace(spec.plan, autogroup_nice=nice)))
        try:
            found[nice] = (autogroup_nice(record.pid), json.loads(pid_file.read_text())["autogroup_nice"])
        finally:
            process.stop(pid_file)
    assert found == {10: (10, 10), 0: (0, 0)}
    assert autogroup_nice(os.getpid()) == mine, "the caller's own group is never touched"
