"""Real HTTP peers for the gateway tests.

FakeVLLM is a small FastAPI app served by uvicorn on a free port that answers /v1/models
and /v1/chat/completions (JSON and SSE) deterministically, like vLLM's OpenAI server;
it records what it received and whether a stream was abandoned by its client.
The gateway under test also runs under uvicorn on a free port, so clients speak real HTTP.
"""
from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request

from tests.conftest import Served, dead_url  # noqa: F401 (dead_url re-exported for the tests)
from fastapi.responses import JSONResponse, StreamingResponse

from core.recipe.schema import RagSection
from serve.gateway.app import create_app
from serve.gateway.service import GatewayService
from serve.rag.types import Source

UPSTREAM_KEY = "upstream-and-client-key"
MODELS = ["base", "med-lora"]
ANSWER = "根据资料，感冒多由病毒引起 [1]。建议休息。"


def answer_pieces(text: str = ANSWER, n: int = 4) -> list[str]:
    step = -(-len(text) // n)
    return [text[i:i + step] for i in range(0, len(text), step)]


def chunk(model: str, delta: dict, finish: str | None = None, usage: bool = False) -> dict:
    body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if usage:
        body["usage"] = None
    return body


def sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


@dataclass
class FakeVLLM:
    requests: list[dict] = field(default_factory=list)     # chat bodies received
    headers: list[dict] = field(default_factory=list)
    abandoned: threading.Event = field(default_factory=threading.Event)  # a client left mid-stream
    abandoned_wait: threading.Event = field(default_factory=threading.Event)  # ... or before a JSON answer
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        def refuse(request: Request) -> JSONResponse | None:
            if request.headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            return None

        @app.get("/v1/models")
        async def models(request: Request):
            if (denied := refuse(request)) is not None:
                return denied
            return {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "vllm", "root": "base",
                 "parent": None if m == "base" else "base", "max_model_len": 2048} for m in MODELS]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            if (denied := refuse(request)) is not None:
                return denied
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            model = body.get("model")
            if model not in MODELS:
                return JSONResponse({"error": {"message": f"The model `{model}` does not exist.",  # vLLM 0.32's shape
                                               "type": "NotFoundError", "param": "model", "code": 404}},
                                    status_code=404)
            if not body.get("stream"):
                if body.get("x_slow"):
                    return await self.slow_answer(request)
                return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER},
                                     "logprobs": None, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            if body.get("x_endless"):
                gen = self.endless(request, model)
            elif body.get("x_crash"):
                gen = self.crash(model)
            else:
                gen = self.stream(model, usage)
            return StreamingResponse(gen, media_type="text/event-stream")

        return app

    async def stream(self, model: str, usage: bool):
        yield sse(chunk(model, {"role": "assistant", "content": ""}, usage=usage))
        for piece in answer_pieces():
            await asyncio.sleep(0.001)
            yield sse(chunk(model, {"content": piece}, usage=usage))
        yield sse(chunk(model, {}, "stop", usage=usage))
        if usage:
            yield sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000,
                       "model": model, "choices": [],
                       "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
        yield b"data: [DONE]\n\n"

    async def slow_answer(self, request: Request):
        """A non-streamed answer that takes 20 s; records it when the client goes away first."""
        for _ in range(1000):
            if await request.is_disconnected():
                self.abandoned_wait.set()
                return JSONResponse({"error": "client gone"}, status_code=499)
            await asyncio.sleep(0.02)
        return JSONResponse({"error": "the test expected the gateway to hang up"}, status_code=500)

    async def crash(self, model: str):
        """One chunk, then the server fails mid-response (uvicorn drops the connection)."""
        yield sse(chunk(model, {"role": "assistant", "content": "半"}))
        await asyncio.sleep(0.01)
        raise RuntimeError("test upstream crashed mid-stream")

    async def endless(self, request: Request, model: str):
        """Tokens every 20 ms for up to 20 s; records it when the client goes away first."""
        finished = False
        try:
            for i in range(1000):
                if await request.is_disconnected():
                    return
                yield sse(chunk(model, {"content": f"t{i} "}))
                await asyncio.sleep(0.02)
            finished = True
            yield b"data: [DONE]\n\n"
        finally:
            if not finished:
                self.abandoned.set()


class ListRetriever:
    """The Retriever protocol over a fixed list: the k best by score; records the queries."""

    def __init__(self, sources: list[Source], fail_describe: bool = False):
        self.sources = sorted(sources, key=lambda s: -s.score)
        self.queries: list[tuple[str, int]] = []
        self.fail_describe = fail_describe

    def search(self, query: str, k: int) -> list[Source]:
        self.queries.append((query, k))
        return self.sources[:k]

    def describe(self) -> dict:
        if self.fail_describe:
            raise RuntimeError("collection medkit-test is gone")
        return {"collection": "medkit-test", "chunks": len(self.sources), "embedder": "list", "dim": 0}


def corpus() -> list[Source]:
    texts = [("感冒", "感冒多由鼻病毒引起，\n表现为鼻塞、流涕。", 0.92),
             ("流感", "流感由流感病毒引起，起病急，高热。", 0.81),
             ("高血压", "高血压患者应低盐饮食。", 0.55),
             ("糖尿病", "糖尿病需要监测血糖。", 0.31),
             ("骨折", "骨折后需要固定。", 0.12)]
    return [Source(chunk_id=f"d{i}-0", doc_id=f"d{i}", title=t, text=x, score=s, metadata={"source": "test"})
            for i, (t, x, s) in enumerate(texts)]


def rag_settings(**gateway) -> RagSection:
    return RagSection(retrieval={"top_k": 2, "context_k": 4, "max_context_chars": 1000},
                      gateway={"max_body_bytes": 4096, "upstream_timeout_s": 10, **gateway})


@pytest.fixture(scope="session")
def upstream():
    fake = FakeVLLM()
    served = Served(fake.app())
    fake.url = served.url + "/v1"
    yield fake
    served.stop()


@pytest.fixture(scope="session")
def start_gateway(upstream):
    """start_gateway(retriever=..., api_key=..., upstream_url=...) -> base URL; stopped at the end."""
    started: list[Served] = []

    def start(retriever="default", api_key=UPSTREAM_KEY, upstream_url=None, settings=None):
        retriever = ListRetriever(corpus()) if retriever == "default" else retriever
        settings = settings or rag_settings()
        service = GatewayService(upstream_url or upstream.url, UPSTREAM_KEY, retriever, settings)
        served = Served(create_app(service, api_key, settings.gateway))
        served.retriever = retriever
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture(scope="session")
def gateway(start_gateway):
    """The shared gateway: test upstream, ListRetriever over corpus(), API key UPSTREAM_KEY."""
    return start_gateway()


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {UPSTREAM_KEY}"}
