"""The gateway's logic, free of HTTP routing so it can be tested without a server.

Two kinds of model names reach `chat`:
  <upstream model>          forwarded to vLLM unchanged; a stream is relayed as raw bytes
  <upstream model>-rag      retrieval first: the last user message (with the conversation
                            for a follow-up, serve/gateway/follow_up.py) is the query, the
                            numbered sources go into the prompt, the answer comes back
                            with a `sources` list (the first SSE chunk when streamed)

Where the sources go: the caller's messages are kept, system message included, and the
sources are written into the LAST USER message by core/rag_prompt.py, the one template
the noise-injection and context-refusal training examples are written with too
(converters/prep/noise.py), in the recipe's rag.prompt language: a model fine-tuned with
`data.noise` sees at serving time byte for byte the layout it learnt from. In the user
turn, it also works with chat templates that accept only one system message at the start.

Errors: GatewayError carries an HTTP status for the OpenAI error shape (503 upstream
unreachable, 504 upstream timeout, 400 bad request); UpstreamHTTPError carries vLLM's own
4xx/5xx status and body, which the router passes through verbatim.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, AsyncIterator, Callable, Optional

import aiohttp

from core import rag_prompt
from core.recipe.schema import RagSection
from serve.gateway import follow_up
from serve.gateway.protocol import ChatCompletionRequest, DifyRecord, SourcePayload, error_body
from serve.rag.types import IndexNotReady, Retriever, Source


class GatewayError(Exception):
    """An error the gateway answers itself, in the OpenAI error shape."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: Optional[str] = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param = status, message, type_, param

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.status, self.param)


class UpstreamHTTPError(Exception):
    """vLLM answered 4xx/5xx: status and body are passed through unchanged."""

    def __init__(self, status: int, body: bytes, content_type: str):
        super().__init__(f"upstream answered {status}")
        self.status, self.body, self.content_type = status, body, content_type


def source_block(index: int, source: Source) -> str:
    """'[n] title' then the text on one line (core/rag_prompt.py, as in training)."""
    return rag_prompt.block(index, rag_prompt.Passage(source.text, source.title))


def build_prompt(question: str, sources: list[Source], max_chars: int,
                 language: str = "zh") -> tuple[str, list[Source]]:
    """The user-turn prompt (core/rag_prompt.py) and the sources it numbers: as many, best first,
    as fit `max_chars`.

    The budget counts the numbered blocks and the blank lines between them. A first
    source longer than the whole budget is cut to fit, so the model gets at least one.
    """
    blocks: list[str] = []
    kept: list[Source] = []
    used = 0
    for source in sources:
        block = source_block(len(kept) + 1, source)
        cost = len(block) + (2 if blocks else 0)
        if used + cost > max_chars:
            if blocks:
                break
            block = block[:max(1, max_chars - 1)] + "…"
            cost = len(block)
        blocks.append(block)
        kept.append(source)
        used += cost
    return rag_prompt.assemble(question, blocks, language), kept


def with_prompt(message: dict[str, Any], prompt: str) -> dict[str, Any]:
    """`message` with its text replaced by `prompt`; non-text parts (images) are kept."""
    content = message.get("content")
    if isinstance(content, list):
        others = [p for p in content if p.get("type") != "text"]
        return {**message, "content": [{"type": "text", "text": prompt}, *others]}
    return {**message, "content": prompt}


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def renamed_event(event: bytes, model: str) -> bytes:
    """One SSE event with its JSON's "model" set to `model`; anything else unchanged."""
    if not event.startswith(b"data: {"):
        return event
    try:
        payload = json.loads(event[6:])
    except ValueError:
        return event
    if not isinstance(payload, dict) or "model" not in payload:
        return event
    payload["model"] = model
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def renamed(chunks: AsyncIterator[bytes], model: str) -> AsyncIterator[bytes]:
    """SSE bytes with each event's "model" set to `model`: vLLM names the plain model in a '-rag'
    answer. Events are cut at the blank line that ends them, so a chunk boundary never splits one."""
    pending = b""
    try:
        async for chunk in chunks:
            *events, pending = (pending + chunk).split(b"\n\n")
            if events:
                yield b"".join(renamed_event(e, model) + b"\n\n" for e in events)
        if pending:
            yield pending
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # closes the upstream stream too


class GatewayService:
    def __init__(self, upstream_url: str, upstream_key: Optional[str], retriever: Optional[Retriever],
                 settings: RagSection):
        self.upstream_url = upstream_url.rstrip("/")  # ends in /v1
        self.upstream_key = upstream_key
        self.retriever = retriever
        self.suffix = settings.gateway.model_suffix
        self.retrieval = settings.retrieval
        self.language = settings.prompt
        self.timeout_s = settings.gateway.upstream_timeout_s
        self._session: Optional[aiohttp.ClientSession] = None
        self._fresh: Optional[aiohttp.ClientSession] = None
        # hooks for metrics (set by the app): seconds spent retrieving; kind of upstream failure
        self.on_retrieval: Callable[[float], None] = lambda seconds: None
        self.on_upstream_error: Callable[[str], None] = lambda kind: None

    # --- upstream plumbing ----------------------------------------------------------------------
    # aiohttp rather than httpx for the upstream leg: relaying a vLLM stream costs the gateway
    # about 35 us of CPU per SSE event with aiohttp's C parser against about 90 us with httpx
    # (pure-Python h11), measured side by side on 2 cores; that CPU is taken from vLLM.

    @property
    def session(self) -> aiohttp.ClientSession:
        """Pooled connections, created on first use inside the serving event loop; closed by `aclose`."""
        if self._session is None:
            # idle connections are dropped after 4 s, before vLLM's own 5 s keep-alive timeout
            # (VLLM_HTTP_TIMEOUT_KEEP_ALIVE) closes them; the race left is retried (see _request)
            self._session = self._new_session(aiohttp.TCPConnector(limit=1000, keepalive_timeout=4.0))
        return self._session

    @property
    def fresh_session(self) -> aiohttp.ClientSession:
        """A new connection for every request: the one retry of a request the upstream dropped."""
        if self._fresh is None:
            self._fresh = self._new_session(aiohttp.TCPConnector(limit=1000, force_close=True))
        return self._fresh

    def _new_session(self, connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
        headers = {"accept-encoding": "identity"}  # raw relay: no compressed bytes to decode
        if self.upstream_key:
            headers["authorization"] = f"Bearer {self.upstream_key}"
        # sock_read = the longest silence between two chunks, so long answers are fine;
        # vLLM serves hundreds of sequences at once, so the pool allows as many connections
        timeout = aiohttp.ClientTimeout(total=None, connect=min(10.0, self.timeout_s), sock_read=self.timeout_s)
        return aiohttp.ClientSession(headers=headers, timeout=timeout, auto_decompress=False, connector=connector)

    async def aclose(self) -> None:
        for session in (self._session, self._fresh):
            if session is not None:
                await session.close()
        self._session = self._fresh = None

    async def _request(self, method: str, path: str, payload: Optional[dict],
                       note: Callable[[str], None]) -> aiohttp.ClientResponse:
        """The upstream's response headers. A pooled keep-alive connection that the upstream closes
        as the request goes out fails before any byte of a response: vLLM never started that
        request, so it is sent once more, on a new connection. Nothing is retried once a response
        has begun (the relay and _read see those failures): that request may be running."""
        try:
            return await self.session.request(method, self.upstream_url + path, json=payload)
        except aiohttp.ClientConnectorError:
            raise  # no connection at all: nothing was sent, and a retry would find the same
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            note("retried")
            return await self.fresh_session.request(method, self.upstream_url + path, json=payload)

    async def _send(self, method: str, path: str, payload: Optional[dict] = None,
                    count: bool = True) -> aiohttp.ClientResponse:
        """One upstream request with its body unread (the caller releases it); 4xx/5xx raise.

        Raises GatewayError (unreachable 503, timeout 504) or UpstreamHTTPError (vLLM's own error).
        """
        note = self.on_upstream_error if count else (lambda kind: None)
        try:
            response = await self._request(method, path, payload, note)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            note("unreachable")
            raise GatewayError(503, f"upstream model server {self.upstream_url} is not reachable "
                                    f"({type(exc).__name__}: {exc}); is vLLM running (`make serve`)?",
                               "service_unavailable") from None
        except asyncio.TimeoutError:
            note("timeout")
            raise GatewayError(504, f"upstream model server {self.upstream_url} did not answer within "
                                    f"{self.timeout_s} s (rag.gateway.upstream_timeout_s)", "timeout") from None
        except aiohttp.ClientError as exc:
            note("unreachable")
            raise GatewayError(503, f"upstream model server {self.upstream_url} failed: "
                                    f"{type(exc).__name__}: {exc}", "service_unavailable") from None
        if response.status >= 400:
            body = await self._read(response, count)
            note(f"http_{response.status // 100}xx")
            raise UpstreamHTTPError(response.status, body, response.headers.get("content-type", "application/json"))
        return response

    async def _read(self, response: aiohttp.ClientResponse, count: bool = True) -> bytes:
        """The whole body; the connection goes back to the pool, or is closed if reading failed."""
        note = self.on_upstream_error if count else (lambda kind: None)
        async with response:  # also on cancellation: an unread body closes the connection (vLLM aborts)
            try:
                return await response.read()
            except asyncio.TimeoutError:
                note("timeout")
                raise GatewayError(504, f"upstream model server {self.upstream_url} stalled for "
                                        f"{self.timeout_s} s mid-response", "timeout") from None
            except aiohttp.ClientError as exc:
                note("broken")
                raise GatewayError(502, f"upstream response broke off: {type(exc).__name__}: {exc}",
                                   "bad_gateway") from None

    async def _json(self, method: str, path: str, payload: Optional[dict] = None,
                    count: bool = True) -> dict[str, Any]:
        body = await self._read(await self._send(method, path, payload, count=count), count)
        try:
            return json.loads(body)
        except ValueError:
            raise GatewayError(502, f"upstream answered {path} with non-JSON: {body[:200]!r}",
                               "bad_gateway") from None

    async def _relay(self, response: aiohttp.ClientResponse, first: bytes = b"") -> AsyncIterator[bytes]:
        """Upstream SSE bytes as they arrive. Closing this generator (client gone) closes upstream."""
        try:
            if first:
                yield first
            async for chunk in response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # upstream died: the status is sent already
            self.on_upstream_error("broken")
            yield sse(error_body(f"upstream stream broke off: {type(exc).__name__}: {exc}", "bad_gateway", 502))
            yield b"data: [DONE]\n\n"
        finally:  # both synchronous, so safe while the request task is being cancelled
            if response.content.at_eof():
                response.release()  # finished: the connection goes back to the pool
            else:
                response.close()    # abandoned: closing the connection makes vLLM abort the request

    # --- public API -----------------------------------------------------------------------------

    def is_rag(self, model: str) -> bool:
        return bool(self.suffix) and len(model) > len(self.suffix) and model.endswith(self.suffix)

    async def list_models(self) -> dict[str, Any]:
        """Upstream /v1/models, plus '<id><suffix>' for each model when a retriever is configured."""
        listing = await self._json("GET", "/models")
        models = list(listing.get("data") or [])
        if self.retriever is not None and self.suffix:
            models += [{**m, "id": m["id"] + self.suffix, "root": m.get("root", m["id"]), "parent": m["id"]}
                       for m in models if isinstance(m, dict) and "id" in m]
        return {**listing, "object": "list", "data": models}

    async def chat(self, request: ChatCompletionRequest) -> dict[str, Any] | AsyncIterator[bytes]:
        """A completion dict (non-streamed) or an async iterator of SSE bytes (streamed)."""
        if not self.is_rag(request.model):
            if request.stream:
                return self._relay(await self._send("POST", "/chat/completions", request.upstream_payload()))
            return await self._json("POST", "/chat/completions", request.upstream_payload())
        upstream_model = request.model[:-len(self.suffix)]
        if self.retriever is None:
            raise GatewayError(404, f"model '{request.model}' needs the retrieval index, which this gateway "
                                    f"has not loaded (see its start-up warning); use '{upstream_model}' or "
                                    f"build the index (`make index`) and restart the gateway", "not_found", "model")
        messages, shown = await self._augment(request, upstream_model)
        payload = request.upstream_payload(model=upstream_model, messages=messages)
        if not request.stream:
            answer = await self._json("POST", "/chat/completions", payload)
            answer["model"] = request.model  # the model asked for, as OpenAI clients expect
            answer["sources"] = shown
            return answer
        response = await self._send("POST", "/chat/completions", payload)
        first: dict[str, Any] = {
            "id": f"chatcmpl-rag-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": request.model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                         "logprobs": None, "finish_reason": None}],
            "sources": shown}
        if request.include_usage:
            first["usage"] = None  # OpenAI: every chunk but the last carries usage: null
        return renamed(self._relay(response, sse(first)), request.model)

    async def _augment(self, request: ChatCompletionRequest, upstream_model: str) -> tuple[list[dict], list[dict]]:
        """(messages with sources in the last user turn, the top_k sources as payload dicts)."""
        messages = request.sent_messages()
        last_user = next((i for i in range(len(request.messages) - 1, -1, -1)
                          if request.messages[i].role == "user"), None)
        question = request.messages[last_user].text().strip() if last_user is not None else ""
        if not question:
            raise GatewayError(400, f"model '{request.model}' retrieves with the last user message as the "
                                    f"query, and the request has no user message with text", param="messages")
        found = await self.search(await self.query(request, upstream_model, last_user), self.retrieval.context_k)
        prompt, kept = build_prompt(question, found, self.retrieval.max_context_chars, self.language)
        messages[last_user] = with_prompt(messages[last_user], prompt)
        shown = [SourcePayload.from_source(i, s).model_dump()
                 for i, s in enumerate(kept[:self.retrieval.top_k], start=1)]
        return messages, shown

    async def query(self, request: ChatCompletionRequest, upstream_model: str, last_user: int) -> str:
        """The search query for the last user turn (rag.retrieval.follow_up; serve/gateway/follow_up.py)."""
        turns = [(m.role, m.text()) for m in request.messages[:last_user + 1]]
        user_turns = [text for role, text in turns if role == "user" and text.strip()]
        mode = self.retrieval.follow_up
        if mode == "last" or len(user_turns) == 1:
            return user_turns[-1].strip()
        fallback = follow_up.rules_query(user_turns)
        if mode == "rules":
            return fallback
        try:  # uncounted in the upstream error metrics: a failed rewrite costs nothing but quality
            answer = await self._json("POST", "/chat/completions", {
                "model": upstream_model, "messages": follow_up.rewrite_messages(turns),
                "max_tokens": 64, "temperature": 0}, count=False)
            rewritten = follow_up.rewritten_query(answer["choices"][0]["message"]["content"] or "")
        except (GatewayError, UpstreamHTTPError, KeyError, IndexError, TypeError):
            rewritten = ""
        return rewritten or fallback

    async def search(self, query: str, k: int) -> list[Source]:
        """Retriever.search in a worker thread (it embeds and queries: blocking work), timed."""
        if self.retriever is None:
            raise GatewayError(404, "no retrieval index is loaded in this gateway", "not_found")
        started = time.perf_counter()
        try:
            return list(await asyncio.to_thread(self.retriever.search, query, k))
        except IndexNotReady as exc:
            raise GatewayError(503, f"the retrieval index is not usable: {exc}", "service_unavailable") from None
        except Exception as exc:
            raise GatewayError(500, f"retrieval failed: {type(exc).__name__}: {exc}", "server_error") from None
        finally:
            self.on_retrieval(time.perf_counter() - started)

    async def retrieve(self, query: str, top_k: int, score_threshold: float = 0.0) -> list[DifyRecord]:
        """Dify's external knowledge retrieval: the top_k sources scoring >= score_threshold."""
        found = await self.search(query, top_k)
        return [DifyRecord.from_source(s) for s in found[:top_k] if s.score >= score_threshold]

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, details): upstream lists its models, and the retriever describes its index."""
        checks: dict[str, Any] = {}
        try:
            listing = await self._json("GET", "/models", count=False)
            checks["upstream"] = {"ok": True, "url": self.upstream_url,
                                  "models": [m.get("id") for m in listing.get("data") or []]}
        except GatewayError as exc:
            checks["upstream"] = {"ok": False, "url": self.upstream_url, "error": exc.message}
        except UpstreamHTTPError as exc:
            checks["upstream"] = {"ok": False, "url": self.upstream_url,
                                  "error": f"GET /models answered {exc.status}"}
        if self.retriever is None:
            checks["retriever"] = {"ok": True, "configured": False}  # plain pass-through gateway
        else:
            try:
                facts = await asyncio.to_thread(self.retriever.describe)
                checks["retriever"] = {"ok": facts.get("complete", True), "configured": True, **facts}
            except Exception as exc:
                checks["retriever"] = {"ok": False, "configured": True, "error": f"{type(exc).__name__}: {exc}"}
        return all(c["ok"] for c in checks.values()), checks
