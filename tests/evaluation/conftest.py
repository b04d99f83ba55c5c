"""A real OpenAI-compatible HTTP server for the evaluation tests, and helpers to run `make eval`.

FakeOpenAI is a FastAPI app under uvicorn (daemon thread, pre-bound free port of
127.0.0.1) answering GET /v1/models and POST /v1/chat/completions, JSON and SSE, like
vLLM and the gateway do: the answer comes from a function of (model, messages) the test
gives; a model ending in -rag also returns `sources` (top level, or in the first chunk
when streamed). It records every chat request it received, and with a delay the most requests
in flight at once per model and in all ("all") (`most_in_flight`). Knobs: `delay_s` per request, `fail_first` (HTTP 503 on the first request for each prompt, then answers), `fail_after`
(503 for every chat request after the first N), `bad_request` (HTTP 400 for the requests it
picks: those fail, the rest are answered), `served` (the model list). It also answers POST /tokenize
(a token per character; 404 with `tokenizer=False`) and /v1/completions with `prompt_logprobs` (`logprob(model)` per token), as
vLLM does, for the perplexity suite.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from fastapi import FastAPI, Request

from tests.conftest import Served, dead_url  # noqa: F401 (dead_url re-exported for the tests)
from fastapi.responses import JSONResponse, StreamingResponse

SYSTEM = "你是一名专业的医生，请按【病情分析】【指导建议】【药物说明】【风险提示】【免责声明】五个部分回答。"
SOURCES = [{"index": 1, "title": "高血压", "snippet": "高血压患者应低盐饮食，每天食盐不超过5克。", "score": 0.9,
            "metadata": {"doc_id": "doc-salt", "chunk_id": "doc-salt-0"}},
           {"index": 2, "title": "运动", "snippet": "规律运动有助于控制血压。", "score": 0.5,
            "metadata": {"doc_id": "doc-sport", "chunk_id": "doc-sport-0"}}]


def user_text(messages: list[dict]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


@dataclass
class FakeOpenAI:
    answer: Callable[[str, list[dict]], str]
    served: list[str] = field(default_factory=lambda: ["plain", "five", "five-rag"])
    delay_s: float = 0.0
    fail_first: bool = False
    fail_after: int | None = None  # answer this many chat requests, then 503 for ever (a server going down)
    bad_request: Callable[[str, list[dict]], bool] | None = None  # (model, messages) -> answer HTTP 400
    logprob: Callable[[str], float] = lambda model: -1.0  # /v1/completions prompt_logprobs per token
    tokenizer: bool = True  # False: /tokenize answers 404, as on an OpenAI-compatible server that is not vLLM
    requests: list[dict] = field(default_factory=list)
    most_in_flight: dict[str, int] = field(default_factory=dict)  # model or "all" -> most requests at once
    _in_flight: dict[str, int] = field(default_factory=dict)
    _seen: set = field(default_factory=set)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models():
            return {"object": "list", "data": [{"id": m, "object": "model"} for m in self.served]}

        # vLLM's tokenizer endpoint and prompt log-probabilities, for the perplexity suite: a token per
        # character (its code point); every prompt token gets log-probability `logprob(model)`
        @app.post("/tokenize")
        async def tokenize(request: Request):
            if not self.tokenizer:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            body = await request.json()
            text = "".join(m["content"] for m in body["messages"]) + "\n" if "messages" in body else body["prompt"]
            return {"count": len(text), "max_model_len": 4096, "tokens": [ord(c) for c in text]}

        @app.post("/v1/completions")
        async def completions(request: Request):
            body = await request.json()
            if body["model"] not in self.served:
                return JSONResponse({"error": {"message": f"model {body['model']} not found"}}, status_code=404)
            lp = self.logprob(body["model"])
            prompts = body["prompt"] if isinstance(body["prompt"][0], list) else [body["prompt"]]  # a batch, or one
            choices = [{"index": n, "text": "", "finish_reason": "length",
                        "prompt_logprobs": [None] + [{str(t): {"logprob": lp, "rank": 1, "decoded_token": chr(t)}}
                                                     for t in prompt[1:]]} for n, prompt in enumerate(prompts)]
            return {"id": "cmpl-x", "object": "text_completion", "created": 1, "model": body["model"],
                    "choices": choices}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            model, messages = body["model"], body["messages"]
            self.requests.append({"model": model, "stream": bool(body.get("stream")), "messages": messages,
                                  "seed": body.get("seed"), "temperature": body.get("temperature")})
            if self.delay_s:
                for key in (model, "all"):
                    self._in_flight[key] = self._in_flight.get(key, 0) + 1
                    self.most_in_flight[key] = max(self.most_in_flight.get(key, 0), self._in_flight[key])
                await asyncio.sleep(self.delay_s)
                for key in (model, "all"):
                    self._in_flight[key] -= 1
            if model not in self.served:
                return JSONResponse({"error": {"message": f"model {model} not found"}}, status_code=404)
            if self.fail_after is not None and len(self.requests) > self.fail_after:
                return JSONResponse({"error": {"message": "engine dead"}}, status_code=503)
            if self.bad_request is not None and self.bad_request(model, messages):
                return JSONResponse({"error": {"message": "prompt too long"}}, status_code=400)
            marker = (model, user_text(messages), body.get("stream"))
            if self.fail_first and marker not in self._seen:
                self._seen.add(marker)
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            text = self.answer(model, messages)
            sources = SOURCES if model.endswith("-rag") else None
            tokens = max(1, len(text) // 2)
            if not body.get("stream"):
                reply = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": model,
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}}
                if sources:
                    reply["sources"] = sources
                return reply

            async def events():
                first = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                         "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                      "finish_reason": None}]}
                if sources:
                    first["sources"] = sources
                yield f"data: {json.dumps(first, ensure_ascii=False)}\n\n"
                for i in range(0, len(text), 3):
                    await asyncio.sleep(0.002)
                    piece = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                             "choices": [{"index": 0, "delta": {"content": text[i:i + 3]}, "finish_reason": None}]}
                    yield f"data: {json.dumps(piece, ensure_ascii=False)}\n\n"
                last = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                yield f"data: {json.dumps(last)}\n\n"
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                             "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": tokens,
                                                      "total_tokens": 10 + tokens}}
                    yield f"data: {json.dumps(usage)}\n\n"
                yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")

        return app


@pytest.fixture
def serve_fake():
    """serve_fake(answer, **knobs) -> (FakeOpenAI, base URL); stopped after the test."""
    started: list[Served] = []

    def start(answer: Callable[[str, list[dict]], str], **knobs) -> tuple[FakeOpenAI, str]:
        fake = FakeOpenAI(answer=answer, **knobs)
        served = Served(fake.app(), "/v1")
        started.append(served)
        fake.stop = served.stop  # type: ignore[attr-defined]
        return fake, served.url

    yield start
    for served in started:
        if served.thread.is_alive():
            served.stop()


def write_items(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def eval_args(run_dir: Path, sets: list[Path], targets: list[tuple[str, str, str]], *extra: str) -> list[str]:
    """`python -m evaluation` arguments: the quickstart recipe, a tmp run_dir, these sets and targets."""
    # eval.multiturn off unless a test sets it again (the quickstart's consultations are their own suite)
    args = ["recipes/quickstart.yaml", f"run_dir={run_dir}", f"eval.sets=[{','.join(map(str, sets))}]",
            "eval.multiturn=null", "--no-progress"]
    # the whole list, so targets the recipe itself names are replaced, not merged into
    listed = ", ".join(f"{{name: '{name}', model: '{model}', base_url: '{url}'}}" for name, model, url in targets)
    args.append(f"eval.targets=[{listed}]")
    return args + list(extra)
