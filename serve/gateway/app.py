"""HTTP layer of the gateway: typed routes over GatewayService, one error shape, auth, limits, metrics.

Routes
  POST /v1/chat/completions   OpenAI chat; '<model>-rag' adds retrieval (see service.py)
  GET  /v1/models             upstream models plus their -rag variants
  POST /retrieval             Dify external knowledge API
  GET  /health                the gateway process answers (no upstream call)
  GET  /ready                 upstream lists its models and the index is complete; else 503
  GET  /metrics               Prometheus text format

With a key set, every route needs it except liveness: /health, and /ready, which without the
key says only "ready" or "not ready" (the details name the upstream URL, models and index).

Errors are OpenAI-shaped {"error": {"message", "type", "param", "code"}} with code = HTTP status.
/retrieval speaks Dify's dialect {"error_code", "error_msg"} and carries the OpenAI `error` object
too; its codes: 1001 Authorization header missing or not "Bearer <key>" (403), 1002 wrong key
(403: Dify's registration check reports 403 as an authorization failure), 2001 anything else about
the request (400 empty or invalid body, 404 no index loaded). Dify registers the endpoint by POSTing
an EMPTY body and fails only on 404/403/502, so an empty body with a good key is answered 400.
knowledge_id is required but not checked: one gateway serves one index.
"""
from __future__ import annotations

import asyncio
import hmac
import time
from contextlib import asynccontextmanager
from typing import Any, Awaitable, Optional, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.recipe.schema import GatewaySettings
from serve.gateway import openapi as docs
from serve.gateway.metrics import GatewayMetrics
from serve.gateway.protocol import (DIFY_AUTH_FAILED, DIFY_BAD_AUTH_FORMAT, DIFY_NO_KNOWLEDGE,
                                    ChatCompletionRequest, DifyRetrievalRequest, DifyRetrievalResponse,
                                    dify_error_body, error_body)
from serve.gateway.service import GatewayError, GatewayService, UpstreamHTTPError

DIFY_PATH = "/retrieval"
OPEN_PATHS = frozenset({"/health", "/ready"})  # liveness; /ready says more only with the key
CLIENT_CLOSED = 499  # nginx's status for "client closed request"; never reaches the client
T = TypeVar("T")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found", 405: "invalid_request_error", 413: "request_too_large"}


def error_response(path: str, status: int, message: str, type_: Optional[str] = None,
                   param: Optional[str] = None, dify_code: int = DIFY_NO_KNOWLEDGE,
                   headers: Optional[dict[str, str]] = None) -> JSONResponse:
    """The error in the dialect of the route: Dify's on /retrieval, OpenAI's elsewhere."""
    type_ = type_ or ERROR_TYPES.get(status, "server_error")
    body = (dify_error_body(dify_code, message, status, type_, param) if path == DIFY_PATH
            else error_body(message, type_, status, param))
    return JSONResponse(body, status_code=status, headers=headers)


class RelayResponse(StreamingResponse):
    """A StreamingResponse that always closes its body iterator, and with it the upstream stream.

    Starlette cancels the send loop when the client disconnects, or lets an OSError escape
    from send; either way the generator would otherwise be left suspended until garbage
    collection, keeping vLLM generating for nobody.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def unless_disconnected(request: Request, work: Awaitable[T]) -> Optional[T]:
    """`work`'s result, or None when the client hangs up first: `work` is then cancelled.

    A non-streamed answer is only sent when complete, so without this a client that gives up
    (a timeout, a closed browser tab) would leave vLLM generating the whole answer for nobody.
    Cancelling the upstream request closes its connection, and vLLM aborts a request
    whose connection is gone. The body was read already (Guard), so the next receive() can
    only be http.disconnect.
    """
    async def hung_up() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    job, watch = asyncio.ensure_future(work), asyncio.ensure_future(hung_up())
    try:
        await asyncio.wait((job, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this handler itself is cancelled
        watch.cancel()
        if not job.done():
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
    return job.result() if job.done() and not job.cancelled() else None


def bearer_token(header: Optional[str]) -> Optional[str]:
    """The token of 'Bearer <token>' (scheme in any case), else None."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def key_matches(header: Optional[str], api_key: Optional[str]) -> bool:
    """True when no key is configured or the header carries it."""
    if not api_key:
        return True
    token = bearer_token(header)
    return token is not None and hmac.compare_digest(token.encode(), api_key.encode())


class Guard:
    """Pure ASGI middleware (streaming-safe): metrics around everything, then auth, then body size."""

    def __init__(self, app: ASGIApp, api_key: Optional[str], max_body_bytes: int, metrics: GatewayMetrics):
        self.app, self.api_key, self.max_body, self.metrics = app, api_key, max_body_bytes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, started, status = scope["path"], time.perf_counter(), None

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        failed = True
        try:
            await self.guarded(scope, receive, send_seen)
            failed = False
        finally:  # no response at all: 500 if we crashed, 499 (nginx: client closed request) otherwise
            self.metrics.observe(path, status or (500 if failed else CLIENT_CLOSED), time.perf_counter() - started)

    async def guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, headers = scope["path"], Headers(scope=scope)
        refusal = None if path in OPEN_PATHS else self.check_auth(path, headers.get("authorization"))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_big = lambda: error_response(path, 413, f"request body larger than {self.max_body} bytes "  # noqa: E731
                                                     f"(rag.gateway.max_body_bytes)")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await too_big()(scope, receive, send)
            return
        # Read the body here (JSON requests are small) so chunked uploads are limited too, then replay it.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                await too_big()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls: http.disconnect, which streaming responses watch for

        await self.app(scope, replay, send)

    def check_auth(self, path: str, header: Optional[str]) -> Optional[JSONResponse]:
        if not self.api_key:
            return None
        if bearer_token(header) is None:
            if path == DIFY_PATH:
                return error_response(path, 403, "Invalid Authorization header format. Expected "
                                      "'Bearer <api-key>' format.", dify_code=DIFY_BAD_AUTH_FORMAT)
            return error_response(path, 401, "missing API key: send the header 'Authorization: Bearer <key>'",
                                  headers={"www-authenticate": "Bearer"})
        if not key_matches(header, self.api_key):
            if path == DIFY_PATH:
                return error_response(path, 403, "Authorization failed: wrong API key.",
                                      dify_code=DIFY_AUTH_FAILED)
            return error_response(path, 401, "invalid API key", headers={"www-authenticate": "Bearer"})
        return None


def describe_validation(exc: RequestValidationError) -> tuple[str, Optional[str]]:
    """(message, param) from pydantic's errors: 'messages: List should have at least 1 item'."""
    problems, param = [], None
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        if err.get("type") == "json_invalid":
            problems.append(f"request body is not valid JSON ({err.get('ctx', {}).get('error', err['msg'])})")
            continue
        if err.get("type") == "missing" and not loc:
            problems.append("request body is empty: expected a JSON object")
            continue
        if err.get("type") == "invalid_json_value":  # serve/gateway/json_values.py: the message names the field
            param = param or err["ctx"]["param"]
            problems.append(err["msg"])
            continue
        where = ".".join(loc)
        param = param or where or None
        problems.append(f"{where}: {err['msg']}" if where else err["msg"])
    return "; ".join(problems) or "invalid request", param


def create_app(service: GatewayService, api_key: Optional[str], settings: GatewaySettings) -> FastAPI:
    """The gateway app; `api_key` None = no auth. The service's HTTP client is closed at shutdown."""
    metrics = GatewayMetrics()
    service.on_retrieval = metrics.retrieval.observe
    service.on_upstream_error = lambda kind: metrics.upstream_errors.labels(kind).inc()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await service.aclose()

    app = FastAPI(title="medkit RAG gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service, app.state.metrics = service, metrics
    app.add_middleware(Guard, api_key=api_key, max_body_bytes=settings.max_body_bytes, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request, exc: RequestValidationError) -> JSONResponse:
        message, param = describe_validation(exc)
        if request.url.path == DIFY_PATH:
            message += " (Dify external knowledge: {knowledge_id, query, retrieval_setting: {top_k, score_threshold}})"
        return error_response(request.url.path, 400, message, param=param)

    @app.exception_handler(GatewayError)
    async def on_gateway_error(request, exc: GatewayError) -> JSONResponse:
        return error_response(request.url.path, exc.status, exc.message, exc.type, exc.param)

    @app.exception_handler(UpstreamHTTPError)
    async def on_upstream_error(_request, exc: UpstreamHTTPError) -> Response:
        return Response(exc.body, status_code=exc.status, media_type=exc.content_type)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request.url.path, exc.status_code, str(exc.detail), headers=exc.headers)

    @app.post("/v1/chat/completions", responses=docs.CHAT, openapi_extra={"security": docs.GUARDED})
    async def chat_completions(request: ChatCompletionRequest, http: Request) -> Response:
        result = await unless_disconnected(http, service.chat(request))
        if result is None:
            return Response(status_code=CLIENT_CLOSED)
        if isinstance(result, dict):
            return JSONResponse(result)
        return RelayResponse(result, media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    @app.get("/v1/models", responses=docs.MODELS, openapi_extra={"security": docs.GUARDED})
    async def models() -> dict[str, Any]:
        return await service.list_models()

    @app.post(DIFY_PATH, response_model=DifyRetrievalResponse, responses=docs.RETRIEVAL,
              openapi_extra={"security": docs.GUARDED})
    async def retrieval(body: DifyRetrievalRequest) -> Any:
        setting = body.retrieval_setting
        records = await service.retrieve(body.query, setting.top_k, setting.score_threshold)
        return DifyRetrievalResponse(records=records)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", response_model=docs.ReadyResponse, response_model_exclude_none=True, responses=docs.READY)
    async def ready(http: Request) -> JSONResponse:
        ok, checks = await service.readiness()
        body: dict[str, Any] = {"status": "ready" if ok else "not ready"}
        if key_matches(http.headers.get("authorization"), api_key):  # details name URLs, models, index
            body["checks"] = checks
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse, responses=docs.METRICS,
             openapi_extra={"security": docs.GUARDED})
    async def prometheus() -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    app.openapi = lambda: docs.document(app, keyed=bool(api_key))  # type: ignore[method-assign]
    return app
