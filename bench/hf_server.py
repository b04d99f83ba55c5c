"""The baseline for `make bench`: an OpenAI-shaped server built the way hand-written projects do it.

One model loaded in-process with transformers (float32, CPU), a FastAPI app, and
`model.generate` called for ONE request at a time behind a global lock: no
batching, no paged KV cache, no scheduler. Greedy decoding with
min_new_tokens = max_new_tokens = max_tokens, so every reply has exactly
max_tokens tokens and the throughput comparison with vLLM is like for like.

Endpoints: POST /v1/chat/completions (non-streamed; model, messages, max_tokens,
temperature; temperature is accepted and ignored: always greedy) and GET /v1/models.

Runs in the train environment. Run as:
    python -m bench.hf_server MODEL_DIR --port 8123 [--served-model-name NAME] [--adapter LORA_DIR]
"""
from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from bench import hf_generate


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # clients send more fields than we honour
    model: str
    messages: list[Message]
    max_tokens: int = 16  # new tokens, generated exactly (EOS suppressed until then)
    temperature: float = 0.0  # ignored: always greedy


def build_app(model_dir: str, served_name: str, adapter: str | None = None) -> FastAPI:
    tok, model = hf_generate.load(model_dir, adapter)
    lock = asyncio.Lock()  # one generate() at a time: this is the baseline
    app = FastAPI(title="hf-baseline")

    def generate(req: ChatRequest) -> tuple[str, int, int]:
        return hf_generate.generate(tok, model, [m.model_dump() for m in req.messages], req.max_tokens, exact=True)

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": served_name, "object": "model", "owned_by": "hf-baseline"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatRequest) -> dict:
        async with lock:
            # off the event loop, so /v1/models still answers while a request generates
            text, prompt_tokens, completion_tokens = await asyncio.to_thread(generate, req)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": served_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", default=None, help="default: the model directory's name")
    parser.add_argument("--adapter", default=None, help="a LoRA adapter folder applied with peft (not merged)")
    args = parser.parse_args()
    name = args.served_model_name or Path(args.model_dir).resolve().name
    app = build_app(args.model_dir, name, args.adapter)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
