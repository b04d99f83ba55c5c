"""The key guard vLLM loads with --middleware, over a small app with vLLM-like routes (real HTTP).

The chain test (tests/integration) checks it inside real vLLM, route by route.
"""
from __future__ import annotations

import importlib.util
import sys

import httpx
import pytest
from fastapi import FastAPI, WebSocket

from serve.vllm_cmd import KEY_GUARD, PLUGIN_DIR
from tests.conftest import Served


def load_guard():
    module, name = KEY_GUARD.rsplit(".", 1)
    spec = importlib.util.spec_from_file_location(module, PLUGIN_DIR / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return getattr(loaded, name)


def vllm_like(guard) -> FastAPI:
    app = FastAPI()
    for path in ("/health", "/ping", "/metrics", "/version", "/v1/models"):
        app.get(path)(lambda: {"ok": True})
    for path in ("/invocations", "/tokenize", "/detokenize", "/scale_elastic_ep", "/generative_scoring"):
        app.post(path)(lambda: {"generated": "secret"})

    @app.websocket("/v1/realtime")
    async def realtime(ws: WebSocket):
        await ws.accept()
        await ws.send_text("hello")
        await ws.close()

    app.add_middleware(guard)  # as vLLM does with a --middleware class: no arguments
    return app


@pytest.fixture(scope="module")
def guarded():
    import os
    os.environ["VLLM_API_KEY"] = "k-123"
    try:
        served = Served(vllm_like(load_guard()))
    finally:
        del os.environ["VLLM_API_KEY"]  # read once, when vLLM builds its app
    yield served.url
    served.stop()


@pytest.mark.parametrize("path", ["/invocations", "/tokenize", "/detokenize", "/scale_elastic_ep",
                                  "/generative_scoring"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic azoxMjM=", "Bearer"])
def test_post_routes_outside_v1_need_the_key(guarded, path, header):
    reply = httpx.post(f"{guarded}{path}", json={}, headers={"Authorization": header} if header else {})
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}
    assert httpx.post(f"{guarded}{path}", json={}, headers={"Authorization": "bearer k-123"}).status_code == 200


@pytest.mark.parametrize("path,open_", [("/health", True), ("/ping", True), ("/metrics", False),
                                         ("/version", False), ("/v1/models", False), ("/openapi.json", False),
                                         ("/no/such/path", False), ("/health/", False), ("//health", False)])
def test_only_liveness_is_open(guarded, path, open_):
    assert (httpx.get(f"{guarded}{path}").status_code != 401) is open_
    assert httpx.get(f"{guarded}{path}", headers={"Authorization": "Bearer k-123"}).status_code != 401


def test_cors_preflight_passes_and_websockets_need_the_key(guarded):
    assert httpx.options(f"{guarded}/invocations").status_code != 401
    from websockets.sync.client import connect  # uvicorn's websocket implementation
    from websockets.exceptions import InvalidStatus
    ws_url = guarded.replace("http://", "ws://") + "/v1/realtime"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url).close()
    assert refused.value.response.status_code == 403
    with connect(ws_url, additional_headers={"Authorization": "Bearer k-123"}) as ws:
        assert ws.recv() == "hello"


def test_without_a_key_the_guard_is_open(monkeypatch):
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    served = Served(vllm_like(load_guard()))
    try:
        assert httpx.post(f"{served.url}/invocations", json={}).status_code == 200
    finally:
        served.stop()


def test_guard_uses_the_standard_library_only():
    """It is imported inside vLLM's environment, which has none of the toolkit's packages."""
    source = (PLUGIN_DIR / f"{KEY_GUARD.split('.')[0]}.py").read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= set(sys.stdlib_module_names) | {"__future__"}
