"""Process control with real child processes (no vLLM needed here)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from serve import process
from tests.conftest import run_module


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()[:1] != "Z"


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port} on 127.0.0.1 is already in use.*serve.port={port + 1}"):
            process.start("x", [sys.executable, "-c", "pass"], {}, "127.0.0.1", port,
                          f"http://127.0.0.1:{port}/v1", ["m"], tmp_path / "x.json", tmp_path / "x.log", 5)
    assert not (tmp_path / "x.json").exists()


def test_server_dying_at_start_shows_log_tail_and_leaves_nothing(tmp_path):
    # parent prints, forks a grandchild that would linger, then fails: the whole group must go
    script = ("import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              "print('loading model... ValueError: no such model', flush=True); time.sleep(0.5); sys.exit(3)")
    port = process.free_port()
    with pytest.raises(SystemExit) as info:
        process.start("fake server", [sys.executable, "-c", script], {}, "127.0.0.1", port,
                      f"http://127.0.0.1:{port}/v1", ["m"], tmp_path / "s.json", tmp_path / "s.log", 30)
    message = str(info.value)
    assert "exited with status 3" in message and "ValueError: no such model" in message
    assert not (tmp_path / "s.json").exists()
    time.sleep(0.5)
    leftovers = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True, text=True).stdout.split()
    assert leftovers == []


def test_server_never_ready_times_out_and_is_stopped(tmp_path):
    port = process.free_port()
    argv = [sys.executable, "-c", "import time; print('stuck', flush=True); time.sleep(120)"]
    with pytest.raises(SystemExit, match="(?s)not ready after 2 s.*stuck"):
        process.start("slow", argv, {}, "127.0.0.1", port, f"http://127.0.0.1:{port}/v1", ["m"],
                      tmp_path / "t.json", tmp_path / "t.log", 2)
    assert subprocess.run(["pgrep", "-f", "time.sleep\\(120\\)"], capture_output=True).returncode == 1


def test_start_wait_status_stop_with_a_real_http_server(tmp_path):
    port = process.free_port()
    server = ("import http.server, json\n"
              "class H(http.server.BaseHTTPRequestHandler):\n"
              "    def do_GET(self):\n"
              "        body = json.dumps({'data': [{'id': 'm1'}]}).encode()\n"
              "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
              f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n")
    pid_file = tmp_path / "run" / "serve" / "fake.json"
    record = process.start("fake", [sys.executable, "-c", server], {}, "127.0.0.1", port,
                           f"http://127.0.0.1:{port}/v1", ["m1"], pid_file, tmp_path / "f.log", 20)
    assert alive(record["pid"]) and json.loads(pid_file.read_text())["port"] == port
    again = process.start("fake", [sys.executable, "-c", server], {}, "127.0.0.1", port,
                          f"http://127.0.0.1:{port}/v1", ["m1"], pid_file, tmp_path / "f.log", 20)
    assert again["pid"] == record["pid"], "a second start reuses the running server"
    listed = run_module("serve", "status", str(tmp_path))
    assert f"{port}" in listed.stdout and "m1" in listed.stdout
    assert "fake" in process.stop(pid_file)
    time.sleep(0.3)
    assert not alive(record["pid"]) and not pid_file.exists()
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


WORKER_SERVER = ("import http.server, json, subprocess, sys\n"
                 "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
                 "class H(http.server.BaseHTTPRequestHandler):\n"
                 "    def do_GET(self):\n"
                 "        body = json.dumps({'data': [{'id': 'm1'}]}).encode()\n"
                 "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
                 "http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n")


def start_with_worker(tmp_path, port: int) -> tuple[dict, list[int]]:
    """A server whose leader spawned a worker, like vLLM's API server and its EngineCore."""
    argv = [sys.executable, "-c", WORKER_SERVER.replace("{port}", str(port))]
    record = process.start("fake", argv, {}, "127.0.0.1", port, f"http://127.0.0.1:{port}/v1", ["m1"],
                           tmp_path / "run" / "serve" / "fake.json", tmp_path / "f.log", 20)
    workers = [pid for pid in process.tagged(record["tag"]) if pid != record["pid"]]
    assert len(workers) == 1
    return record, workers


def test_leftovers_of_a_killed_leader_are_listed_and_stopped(tmp_path):
    port = process.free_port()
    record, workers = start_with_worker(tmp_path, port)
    os.kill(record["pid"], signal.SIGKILL)  # the leader only: its worker lives on, as vLLM's engine does
    os.waitpid(record["pid"], 0)
    assert alive(workers[0])
    listed = run_module("serve", "status", str(tmp_path)).stdout
    assert "LEADER GONE" in listed and str(workers[0]) in listed
    message = process.stop(tmp_path / "run" / "serve" / "fake.json")
    assert "had died" in message and str(workers[0]) in message
    assert not alive(workers[0]) and process.tagged(record["tag"]) == []
    assert "nothing running" in run_module("serve", "status", str(tmp_path)).stdout


def test_start_clears_the_leftovers_of_a_killed_leader_first(tmp_path):
    port = process.free_port()
    record, workers = start_with_worker(tmp_path, port)
    os.kill(record["pid"], signal.SIGKILL)
    os.waitpid(record["pid"], 0)
    again, new_workers = start_with_worker(tmp_path, port)
    assert again["pid"] != record["pid"] and not alive(workers[0])
    assert process.tagged(record["tag"]) == []
    process.stop(tmp_path / "run" / "serve" / "fake.json")
    assert not alive(new_workers[0])


def test_a_process_outside_the_server_is_never_tagged(tmp_path):
    port = process.free_port()
    record, _ = start_with_worker(tmp_path, port)
    bystander = subprocess.Popen(["sleep", "30"])  # same user, same group as the test: not the server's
    try:
        assert bystander.pid not in process.tagged(record["tag"])
        process.stop(tmp_path / "run" / "serve" / "fake.json")
        assert bystander.poll() is None
    finally:
        bystander.kill()
