"""Shared helpers: run the toolkit's own commands the way `make` does; the two test lanes.

Lanes: a test is marked `engine` when it trains, starts vLLM, a Chroma server or a browser, or loads
a real model: every test under tests/integration/, every test that uses the shared `pipeline`
(`make quickstart` with its servers), and the modules in ENGINE_MODULES. A test marked `slow` (by
its own decorator) runs a whole command as a subprocess against fake servers, 2-10 s each.
`make test-fast` runs the rest (pytest -m "not engine and not slow"); `make test` runs everything.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# modules outside tests/integration whose tests run an engine without the shared pipeline
ENGINE_MODULES = {"tests/serve/rag/test_rag_server.py"}  # `chroma run`


def pytest_configure(config):
    config.addinivalue_line("markers", "engine: trains, serves (vLLM, a Chroma server), drives a browser or "
                                       "loads a real model; left out by `make test-fast`")
    config.addinivalue_line("markers", "slow: a whole command against fake servers (2-10 s); left out by "
                                       "`make test-fast`")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).relative_to(ROOT)
        if (path.parts[:2] == ("tests", "integration") or path.as_posix() in ENGINE_MODULES
                or "pipeline" in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)


def run_module(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """`python -m <args>` in the app environment from the repository root."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=full_env, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _run_from_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # recipe paths are relative to the repository root


class Served:
    """An ASGI app under uvicorn in a daemon thread, on a free port of 127.0.0.1.

    `url` is the server's root plus `path` (e.g. "/v1" for an OpenAI-style base URL).
    """

    def __init__(self, app, path: str = ""):
        import uvicorn  # app env only; not every test needs it

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}{path}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.sock.close()


def dead_url() -> str:
    """A URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """The shared run of `make quickstart` (tests/pipeline.py), servers running; stopped at the end."""
    from tests.pipeline import build

    built = build(tmp_path_factory.mktemp("runs"))
    yield built
    built.stop()
