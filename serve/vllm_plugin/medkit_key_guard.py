"""A Bearer-key guard for ALL of vLLM's HTTP routes, loaded by vLLM itself:

    python -m vllm.entrypoints.openai.api_server ... --middleware medkit_key_guard.KeyGuard
    (with this folder on PYTHONPATH; serve/vllm_cmd.py adds both when a key is set)

vLLM's own key check (--api-key / VLLM_API_KEY) covers only paths starting /v1, /v2,
/inference and /cohere, so /invocations (a full chat completion), /tokenize, /detokenize,
/pooling-style routes, /scale_elastic_ep, /metrics, /openapi.json and the rest answer anyone.
This guard asks for the same key, read from VLLM_API_KEY, on every path but liveness
(/health, /ping) and CORS preflights (OPTIONS, answered by vLLM's CORS layer, which
generates nothing). Without VLLM_API_KEY it lets everything through (no key, no auth).

It runs inside vLLM's environment, so it uses the standard library only.
"""
from __future__ import annotations

import hmac
import json
import os

OPEN_PATHS = frozenset({"/health", "/ping"})  # liveness only: nothing generated, nothing revealed


def unauthorized_body(message: str) -> bytes:
    """OpenAI's error shape, as vLLM's own 401 reads."""
    return json.dumps({"error": {"message": message, "type": "authentication_error",
                                 "param": None, "code": 401}}).encode()


def bearer_token(scope: dict) -> str | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class KeyGuard:
    """Pure ASGI middleware: streaming responses and websockets pass through untouched once allowed."""

    def __init__(self, app):
        self.app = app
        key = os.environ.get("VLLM_API_KEY") or ""
        self.key = key.encode() if key else None

    def allowed(self, scope: dict) -> bool:
        path = scope["path"].removeprefix(scope.get("root_path", ""))  # as vLLM's own check reads it
        if path in OPEN_PATHS or scope.get("method") == "OPTIONS":
            return True
        token = bearer_token(scope)
        return token is not None and hmac.compare_digest(token.encode(), self.key)

    async def __call__(self, scope, receive, send):
        if self.key is None or scope["type"] not in ("http", "websocket") or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # policy violation; the server answers 403
            return
        body = unauthorized_body("missing or invalid API key: send the header 'Authorization: Bearer <key>'")
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
