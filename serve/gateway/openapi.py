"""The gateway's OpenAPI document: what each route really answers, statuses and media types.

FastAPI documents 200 and 422 by itself; the gateway never answers 422 (bad input is a 400 in
OpenAI's error shape, or Dify's on /retrieval), and it does answer 400, 401/403, 404, 413 and
502-504. The routes take their `responses=` from here, and `document` drops FastAPI's 422 and
adds the Bearer scheme, so clients and conformance checks read the truth.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from serve.gateway.protocol import ErrorInfo, ErrorResponse

WHY = {
    400: "Invalid request: not JSON, a missing or wrongly typed field, NaN/Infinity, or invalid Unicode.",
    401: "Missing or wrong API key (only when a key is configured).",
    403: "Missing or wrong API key (Dify codes 1001, 1002; only when a key is configured).",
    404: "Unknown model, or a '-rag' model / retrieval while this gateway has no index loaded.",
    413: "Request body larger than rag.gateway.max_body_bytes.",
    502: "The model server's answer broke off or was not JSON.",
    503: "The model server is not reachable, or the index is incomplete (an interrupted `make index`).",
    504: "The model server did not answer within rag.gateway.upstream_timeout_s.",
}


class DifyErrorResponse(BaseModel):
    """Dify's error shape plus OpenAI's `error` object, so either reader understands."""
    error_code: int
    error_msg: str
    error: ErrorInfo


class ReadyResponse(BaseModel):
    status: Literal["ready", "not ready"]
    checks: Optional[dict[str, Any]] = None  # only for a caller with the key (or when no key is set)


def errors(*codes: int, dify: bool = False) -> dict[int | str, dict[str, Any]]:
    model = DifyErrorResponse if dify else ErrorResponse
    return {code: {"model": model, "description": WHY[code]} for code in codes}


SSE = {"text/event-stream": {"schema": {"type": "string", "description": "OpenAI chat.completion.chunk events"}}}
CHAT = {200: {"description": "chat.completion (JSON), or its chunks as server-sent events when stream is true; "
                             "errors of the model server are passed through with its status and body",
              "content": SSE},
        **errors(400, 401, 404, 413, 502, 503, 504)}
MODELS = errors(401, 502, 503, 504)
RETRIEVAL = errors(400, 403, 404, 413, 503, dify=True)
READY = {503: {"model": ReadyResponse, "description": "Not ready: the model server or the index is not."}}
METRICS = {200: {"description": "Prometheus text exposition format",
                 "content": {"text/plain": {"schema": {"type": "string"}}}},
           401: {"description": WHY[401],  # JSON, although the route's own answer is text
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}}
GUARDED = [{"bearer": []}]  # dropped by `document` when the gateway runs without a key


def document(app: FastAPI, keyed: bool) -> dict[str, Any]:
    """app.openapi(): FastAPI's document without the 422s it would never send, with the Bearer scheme
    required on the guarded routes when the gateway has a key (`keyed`), and on none without one."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes, description=__doc__.split("\n")[0])
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
            if not keyed:
                operation.pop("security", None)
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    spec.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    app.openapi_schema = spec
    return spec
