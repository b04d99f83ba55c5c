"""Send chat requests to one OpenAI-compatible target: bounded, retried, timed, cached.

The official openai AsyncOpenAI client, with its own retries switched off (max_retries=0)
so that retrying is done, and counted, here:
  * at most `concurrency` requests in flight (asyncio.Semaphore);
  * a connection error, a timeout, 5xx or 429 is retried after backoff_s * 2**attempt
    seconds (capped at max_backoff_s; a 429's Retry-After is honoured up to 30 s),
    `retries` times; then the target counts as DOWN: the requests not yet sent are
    skipped and Outcome.down says which target, URL and error. What was answered
    before stays in the cache and in the Outcome (partial results);
  * 401/403/404 (bad key, unknown model) also stop the target at once; any other 4xx
    (e.g. a prompt longer than the context) fails only that request;
  * `timeout_s` bounds each request as a whole (streamed ones included);
  * sampling is deterministic: temperature and seed from the recipe on every request;
  * streamed requests (Request.stream) measure time to first token, latency and
    output tokens/s; token counts come from the final usage chunk
    (stream_options.include_usage), else from the number of content chunks.
Every answer is appended to the target's cache (evaluation/cache.py) the moment it
arrives, keyed by (target, model, base URL, item id, variant, params); cached requests
are not sent again. A -rag model's `sources` (top-level in a completion, in the first
chunk of a stream) are kept with the answer.

Before sending, GET /models checks the target answers and serves the model (skipped
when everything is cached, so a finished evaluation re-scores offline).

Runner.stats: wall time, time awaiting HTTP, and the runner's own time (its code
outside the awaits: keys, cache reads/writes, records, progress), for bench/eval_runner.py.

Run as (one question to one endpoint, printed with its timings):
    python -m evaluation.runner http://127.0.0.1:8000/v1 base "高血压患者饮食要注意什么？"
"""
from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import openai
from openai import AsyncOpenAI
from tqdm import tqdm

from core.stage import command_status
from evaluation.cache import Cache, file_name, messages_digest, request_key

FATAL_STATUS = (401, 403, 404)


@dataclass
class Target:
    name: str
    model: str
    base_url: str
    api_key: Optional[str] = None

    @property
    def label(self) -> str:
        return f"target '{self.name}' (model '{self.model}' at {self.base_url})"


@dataclass
class Request:
    item_id: str
    variant: str                 # "full", "minimal" (ablation), "stream" (serving figures)
    messages: list[dict]
    stream: bool = False


@dataclass
class Outcome:
    target: Target
    responses: dict[tuple[str, str], dict] = field(default_factory=dict)  # (item id, variant) -> record
    failures: list[dict] = field(default_factory=list)  # requests that got no answer, with the error
    down: Optional[str] = None   # why the target was given up on
    cached: int = 0              # answers taken from the cache
    fresh: int = 0               # answers received now


class TargetDown(Exception):
    pass


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, (openai.APIConnectionError, asyncio.TimeoutError)):  # timeouts included
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no complete answer within the timeout (eval.timeout_s)"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {str(exc.message)[:300]}"
    cause = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {exc}" + (f" ({type(cause).__name__}: {cause})" if cause else "")


class Runner:
    def __init__(self, cache_dir: Path, *, concurrency: int = 8, timeout_s: float = 120.0, retries: int = 3,
                 max_tokens: int = 256, temperature: float = 0.0, seed: int = 0, progress: bool = True,
                 backoff_s: float = 0.5, max_backoff_s: float = 8.0):
        self.cache_dir = Path(cache_dir)
        self.concurrency, self.timeout_s, self.retries = concurrency, timeout_s, retries
        self.sampling = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
        self.progress, self.backoff_s, self.max_backoff_s = progress, backoff_s, max_backoff_s
        self.stats = {"wall_s": 0.0, "http_s": 0.0, "own_s": 0.0, "requests": 0}

    def key(self, target: Target, request: Request) -> str:
        params = {**self.sampling, "stream": request.stream, "messages": messages_digest(request.messages)}
        return request_key(target.name, target.model, target.base_url, request.item_id, request.variant, params)

    def run(self, target: Target, requests: list[Request], concurrency: Optional[int] = None) -> Outcome:
        return self.run_each([(target, requests)], concurrency)[0]

    def run_each(self, jobs: list[tuple[Target, list[Request]]], concurrency: Optional[int] = None) -> list[Outcome]:
        """Several targets at once, each with its own `concurrency` in flight, in one event loop: the
        servers batch the targets' requests together (a target that goes down stops only itself)."""
        started = time.perf_counter()

        async def gather() -> list[Outcome]:
            return list(await asyncio.gather(*(self.run_async(target, requests, concurrency, position)
                                               for position, (target, requests) in enumerate(jobs))))
        try:
            return asyncio.run(gather())
        finally:
            self.stats["wall_s"] += time.perf_counter() - started

    async def run_async(self, target: Target, requests: list[Request],
                        concurrency: Optional[int] = None, position: int = 0) -> Outcome:
        own = time.perf_counter()
        outcome = Outcome(target)
        cache = Cache(self.cache_dir / file_name(target.name))
        todo: list[tuple[str, Request]] = []
        for request in requests:
            key = self.key(target, request)
            hit = cache.get(key)
            if hit is not None:
                outcome.responses[(request.item_id, request.variant)] = hit
                outcome.cached += 1
            else:
                todo.append((key, request))
        self.stats["own_s"] += time.perf_counter() - own
        if not todo:
            return outcome
        client = AsyncOpenAI(base_url=target.base_url, api_key=target.api_key or "EMPTY", max_retries=0,
                             timeout=self.timeout_s)
        bar = tqdm(total=len(requests), initial=outcome.cached, desc=f"{target.name:>12s}", unit="req",
                   disable=not self.progress, dynamic_ncols=True, leave=True, position=position)
        try:
            with cache:
                await self._check(client, target)
                gate = asyncio.Semaphore(concurrency or self.concurrency)
                await asyncio.gather(*(self._one(client, target, key, req, gate, cache, outcome, bar)
                                       for key, req in todo))
        except TargetDown as exc:
            outcome.down = str(exc)
        finally:
            bar.close()
            await client.close()
        if outcome.down:
            failed = {(f["item_id"], f["variant"]) for f in outcome.failures}
            outcome.failures += [{"item_id": r.item_id, "variant": r.variant, "error": "no answer: target down"}
                                 for _, r in todo if (r.item_id, r.variant) not in outcome.responses
                                 and (r.item_id, r.variant) not in failed]
        return outcome

    async def _with_retries(self, target: Target, call, outcome: Optional[Outcome] = None) -> Any:
        """(`await call()`, attempts) with backoff; TargetDown when retries run out or the target refuses us."""
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            try:
                return await asyncio.wait_for(call(), self.timeout_s), attempt + 1
            except Exception as exc:
                self.stats["http_s"] += time.perf_counter() - t0
                if isinstance(exc, openai.APIStatusError) and exc.status_code in FATAL_STATUS:
                    raise TargetDown(f"{target.label} refused the request: {describe(exc)}") from None
                if not retryable(exc):
                    raise
                if attempt == self.retries:
                    raise TargetDown(f"{target.label} is not answering after {self.retries} retries: "
                                     f"{describe(exc)}") from None
                if outcome is not None and outcome.down:  # another request already gave up on it
                    raise TargetDown(outcome.down) from None
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
                if isinstance(exc, openai.RateLimitError):
                    try:
                        delay = max(delay, min(30.0, float(exc.response.headers.get("retry-after", 0))))
                    except ValueError:
                        pass
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _check(self, client: AsyncOpenAI, target: Target) -> None:
        """The target lists its models and ours is among them."""
        async def listing():
            return [m.id async for m in client.models.list()]
        served, _ = await self._with_retries(target, listing)
        if target.model not in served:
            raise TargetDown(f"{target.label}: the server does not serve this model; it serves "
                             f"{', '.join(served) or 'nothing'} (fix eval.targets[].model or base_url)")

    async def _one(self, client: AsyncOpenAI, target: Target, key: str, request: Request,
                   gate: asyncio.Semaphore, cache: Cache, outcome: Outcome, bar: tqdm) -> None:
        async with gate:
            if outcome.down:
                return
            send = self._stream if request.stream else self._complete
            try:
                answer, attempts = await self._with_retries(target, lambda: send(client, target, request), outcome)
            except TargetDown as exc:  # the other requests see outcome.down and are not sent
                outcome.down = outcome.down or str(exc)
                return
            except Exception as exc:  # a 4xx for this request only
                outcome.failures.append({"item_id": request.item_id, "variant": request.variant,
                                         "error": describe(exc)})
                bar.update(1)
                return
            self.stats["http_s"] += answer.pop("_http_s")
            own = time.perf_counter()
            record = {"key": key, "target": target.name, "model": target.model, "item_id": request.item_id,
                      "variant": request.variant, "stream": request.stream, "attempts": attempts,
                      "created": round(time.time(), 3), **answer}
            cache.put(record)
            outcome.responses[(request.item_id, request.variant)] = record
            outcome.fresh += 1
            self.stats["requests"] += 1
            bar.update(1)
            self.stats["own_s"] += time.perf_counter() - own

    async def _complete(self, client: AsyncOpenAI, target: Target, request: Request) -> dict:
        t0 = time.perf_counter()
        reply = await client.chat.completions.create(model=target.model, messages=request.messages,
                                                     **self.sampling)
        latency = time.perf_counter() - t0
        choice = reply.choices[0] if reply.choices else None
        usage = reply.usage
        return {"text": (choice.message.content if choice else None) or "",
                "finish_reason": choice.finish_reason if choice else None,
                "prompt_tokens": usage.prompt_tokens if usage else None,
                "completion_tokens": usage.completion_tokens if usage else None,
                "sources": (reply.model_extra or {}).get("sources"),
                "latency_s": round(latency, 4), "ttft_s": None, "_http_s": latency}

    async def _stream(self, client: AsyncOpenAI, target: Target, request: Request) -> dict:
        t0 = time.perf_counter()
        stream = await client.chat.completions.create(model=target.model, messages=request.messages,
                                                      stream=True, stream_options={"include_usage": True},
                                                      **self.sampling)
        ttft, pieces, sources, usage, finish = None, [], None, None, None
        async for chunk in stream:
            if sources is None and (chunk.model_extra or {}).get("sources") is not None:
                sources = chunk.model_extra["sources"]
            if chunk.usage:
                usage = chunk.usage
            if chunk.choices:
                delta = chunk.choices[0].delta
                if delta and delta.content:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    pieces.append(delta.content)
                finish = chunk.choices[0].finish_reason or finish
        latency = time.perf_counter() - t0
        tokens = usage.completion_tokens if usage else len(pieces)
        decode_s = latency - (ttft or latency)
        return {"text": "".join(pieces), "finish_reason": finish,
                "prompt_tokens": usage.prompt_tokens if usage else None, "completion_tokens": tokens,
                "sources": sources, "latency_s": round(latency, 4),
                "ttft_s": round(ttft, 4) if ttft is not None else None,
                "tokens_per_s": round((tokens - 1) / decode_s, 2) if tokens > 1 and decode_s > 0 else None,
                "_http_s": latency}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    import os
    import tempfile
    url, model, question = argv
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(Path(tmp), progress=False, retries=1)
        target = Target("cli", model, url, os.environ.get("MEDKIT_API_KEY"))
        outcome = runner.run(target, [Request("q", "stream", [{"role": "user", "content": question}], stream=True)])
    if outcome.down or outcome.failures:
        print(outcome.down or outcome.failures[0]["error"], file=sys.stderr)
        return 1
    record = outcome.responses[("q", "stream")]
    print(record["text"])
    print(f"-- {record['completion_tokens']} tokens, first token {record['ttft_s']} s, "
          f"total {record['latency_s']} s, {record['tokens_per_s']} tokens/s, "
          f"{len(record['sources'] or [])} sources")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
