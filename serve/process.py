"""Start, stop and list background servers, each tracked by a JSON pid file.

A server runs in its own session (process group), so `stop` ends it and every
worker it spawned, and nothing else: the pid file records the group and the
command line, and a pid whose command line no longer matches is treated as stale.

Each server also gets a tag in its environment (MEDKIT_SERVER_TAG=<random>), which
every process it spawns inherits. That finds a server's processes after its leader
died: SIGKILL of vLLM's API server leaves its EngineCore and Worker running (2.4 GB
resident for the tiny model on CPU), in a session whose leader pid is gone. A server's
processes are those of its session (the leader's pid) that carry its tag, plus those
whose environment was overwritten: vLLM's EngineCore and Worker set their process
title, which overwrites the start of /proc/<pid>/environ (the tag with it). A process
in that session with an ordinary environment but without the tag is never touched.
"""
from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import httpx

from core.cpu import autogroups_enabled
from core.endpoints import models_answer
from core.errors import StageFailed
from core.layout import pid_files_under
from core.server_record import ServerRecord


def log_tail(log: Path, lines: int = 40) -> str:
    if not log.exists():
        return "(no log written)"
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


TAG_VAR = "MEDKIT_SERVER_TAG"


def _session_and_env(pid_dir: Path) -> tuple[int, bytes] | None:
    """(session id, raw environment) of a live, non-zombie process; None if gone or unreadable."""
    try:
        fields = (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()  # after "(comm)": state ppid pgrp session
        if fields[0] == "Z":
            return None
        return int(fields[3]), (pid_dir / "environ").read_bytes()
    except (OSError, IndexError, ValueError):
        return None


def server_pids(record: ServerRecord) -> list[int]:
    """Live processes of the server in `record`: in its session with its tag or a blanked
    environment (a process title was set over it), or anywhere with its tag."""
    if not record.tag:  # a pid file written before tags: the leader only
        return [record.pid] if record.marker in cmdline(record.pid) else []
    needle, sid, found = f"{TAG_VAR}={record.tag}".encode(), record.pgid, []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        seen = _session_and_env(entry)
        if seen is None:
            continue
        session, env = seen
        # a title set over the environment starts it with NULs; variables the process added later
        # may survive at its end, so only the start tells
        blanked = env[:1] in (b"", b"\0")
        if needle in env.split(b"\0") or (session == sid and blanked):
            found.append(int(entry.name))
    return sorted(found)


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def read_record(pid_file: Path) -> ServerRecord | None:
    """The record if its leader still runs the recorded command or processes with its tag are left;
    stale files are removed. Fills `leader_alive` and `pids` (every live process of the server)."""
    record = ServerRecord.read(pid_file)
    if record is None:
        return None
    alive = record.marker in cmdline(record.pid)
    pids = set(server_pids(record))
    if alive:
        pids.add(record.pid)
    if not pids:
        pid_file.unlink(missing_ok=True)
        return None
    record.leader_alive, record.pids = alive, sorted(pids)
    return record


def answers(url: str, timeout: float = 2.0) -> bool:
    """GET `url` answers 200."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def kill_group(pgid: int, grace_s: float = 20.0) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace_s
    while time.time() < deadline:
        try:
            os.waitpid(pgid, os.WNOHANG)  # reap the leader if it is our own child (else a zombie lingers)
        except ChildProcessError:
            pass
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_server(record: ServerRecord, grace_s: float = 20.0) -> list[int]:
    """SIGTERM every process of the server, SIGKILL what is left after `grace_s`; the pids found."""
    first = server_pids(record)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        left = server_pids(record)  # looked up again before each signal: only the server's own processes
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait_s
        while left and time.time() < deadline:
            time.sleep(0.2)
            left = server_pids(record)
        if not left:
            break
    return first


def end_server(record: ServerRecord, grace_s: float = 20.0) -> None:
    """The whole server: its group while the leader lives (a clean vLLM shutdown), then what is left."""
    if record.leader_alive:
        kill_group(record.pgid, grace_s)
    if record.tag:
        kill_server(record, grace_s)


def set_autogroup_nice(pid: int, nice: int) -> str | None:
    """Give the scheduler autogroup of `pid` (the CFS group of its session) the nice value `nice`.
    None when done or when there is nothing to do (nice 0, a kernel without autogroups); else why not."""
    if nice <= 0 or not autogroups_enabled():
        return None
    target = Path(f"/proc/{pid}/autogroup")
    for _ in range(30):  # an unprivileged write is refused (EAGAIN) within 100 ms of any other one
        try:
            target.write_text(str(nice))
            return None
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                return f"could not set its autogroup nice value to {nice} ({exc.strerror})"
            time.sleep(0.1)
    return f"could not set its autogroup nice value to {nice} (the kernel kept answering EAGAIN)"


@dataclass
class LaunchPlan:
    """A server's command line as data: what to run, with which environment, what it will serve."""
    argv: list[str]
    env: dict[str, str]               # added to this process's environment
    models: list[str]                 # served model names, base/merged first (ready once /models lists them)
    url: str                          # where a local client reaches it (core/endpoints.py)
    host: str = "127.0.0.1"           # bind address (checked free before starting)
    port: int = 0                     # 0: binds no port of its own (a headless vLLM node)
    max_lora_rank: int | None = None  # lora mode: the largest rank the server can mount
    max_adapters: int | None = None   # CPU: the most adapters it may serve at once (see SPARE_LORA_SLOT)
    autogroup_nice: int = 0           # CPU: serve.cpu_autogroup_nice (set_autogroup_nice once started)
    dtype: str | None = None          # vLLM: what --dtype says (auto: vLLM chooses)
    data_parallel_size: int = 1       # engine replicas behind the API server, on every node together
    headless: bool = False            # a data-parallel node without HTTP: its engines join node 0's API server


@dataclass(kw_only=True)
class ServerSpec:
    """A plan plus what `start` needs around it: where its pid file and log go, how long it may take."""
    name: str                     # shown in messages and `make status`, e.g. "vLLM (lora)"
    plan: LaunchPlan
    pid_file: Path
    log: Path
    timeout_s: int
    api_key: Optional[str] = None
    mode: Optional[str] = None    # recorded: what a vLLM server serves (base, merged, lora)
    marker: Optional[str] = None  # recognises its leader's command line (default: the module or program)
    health: Optional[str] = None  # a URL answering 200 once ready, for servers without /models (Chroma)

    @property
    def url(self) -> str:
        return self.plan.url

    @property
    def models(self) -> list[str]:
        return self.plan.models


def start(spec: ServerSpec) -> ServerRecord:
    """Start the server in the background and wait until GET {url}/models lists its models.

    Raises StageFailed with the log tail when the process dies or never answers;
    in both cases nothing is left running.
    """
    plan, name, log, pid_file = spec.plan, spec.name, spec.log, spec.pid_file
    running = read_record(pid_file)
    if running and running.leader_alive:
        print(f"   {name} already running: pid {running.pid}, {running.url}")
        return running
    if running:  # the leader died and left workers behind: they hold memory (and maybe the GPU)
        print(f"   {name}: pid {running.pid} is gone but left processes {running.pids}; stopping them")
        end_server(running)
        pid_file.unlink(missing_ok=True)
    if plan.port and not port_free(plan.host, plan.port):  # port 0: binds none (a headless vLLM node)
        raise StageFailed(f"port {plan.port} on {plan.host} is already in use. Stop what holds it "
                          f"(`make status` lists our servers) or pick another port, e.g. "
                          f"ARGS=\"serve.port={plan.port + 1}\"")
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name} on port {plan.port}\n")
        out.flush()
        tag = secrets.token_hex(8)
        proc = subprocess.Popen(plan.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **plan.env, TAG_VAR: tag}, start_new_session=True)
    refused = set_autogroup_nice(proc.pid, plan.autogroup_nice)  # its own session: a group of its own
    if refused:
        print(f"   warning: {name}: {refused}; clients in other sessions may be served several times "
              f"slower (serve.cpu_autogroup_nice in the recipe explains why)")
    argv = plan.argv
    record = ServerRecord(name=name, url=plan.url, port=plan.port, models=plan.models, log=str(log), pid=proc.pid,
                          pgid=proc.pid, marker=spec.marker or (argv[2] if len(argv) > 2 else argv[0]),
                          started=time.time(), tag=tag, autogroup_nice=None if refused else plan.autogroup_nice,
                          mode=spec.mode, dtype=plan.dtype, max_lora_rank=plan.max_lora_rank,
                          max_adapters=plan.max_adapters, data_parallel_size=plan.data_parallel_size)
    record.write(pid_file)
    try:
        while True:
            if proc.poll() is not None:
                pid_file.unlink(missing_ok=True)
                end_server(record, grace_s=5)
                raise StageFailed(f"{name} exited with status {proc.returncode} during start-up. "
                                  f"Last lines of {log}:\n{log_tail(log)}")
            if spec.health:
                if answers(spec.health):
                    break
            else:
                listed = models_answer(plan.url, spec.api_key)
                if listed is not None and all(m in listed for m in plan.models):
                    break
            if time.time() - record.started > spec.timeout_s:
                raise TimeoutError
            time.sleep(1.0)
    except (TimeoutError, KeyboardInterrupt) as exc:
        end_server(record)
        pid_file.unlink(missing_ok=True)
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"not ready after {spec.timeout_s} s"
        raise StageFailed(f"{name} {why}; stopped it. Last lines of {log}:\n{log_tail(log)}") from None
    record.ready_after_s = round(time.time() - record.started, 1)
    record.write(pid_file)
    return record


def stop(pid_file: Path) -> str | None:
    """Stop the server recorded in `pid_file`; a missing or stale file is not an error."""
    record = read_record(pid_file)
    pid_file.unlink(missing_ok=True)
    if not record:
        return None
    end_server(record)
    if not record.leader_alive:
        return (f"{record.name} (pid {record.pid} had died; stopped the {len(record.pids)} "
                f"processes it left: {', '.join(map(str, record.pids))})")
    return f"{record.name} (pid {record.pid}, port {record.port})"


def records(root: Path) -> list[tuple[Path, ServerRecord]]:
    found = []
    for pid_file in pid_files_under(root):
        record = read_record(pid_file)
        if record:
            record.rss = rss_bytes(record.pids)
            found.append((pid_file, record))
    return found
