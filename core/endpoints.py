"""Where clients reach what `make serve` started, and with which key.

One rule for addresses: a server bound to all interfaces (0.0.0.0, ::) is reached on
127.0.0.1; any other bind address is used as it is. One key: the environment variable
named by serve.api_key_env, sent to vLLM and to the gateway alike. One naming rule:
the gateway serves every plain model also as '<model><suffix>' (default '-rag') with
retrieval. serve, evaluation, the demo, bench and the quickstart all ask here.
"""
from __future__ import annotations

import os
import socket
from typing import Optional

from core.recipe.schema import GatewaySettings, Recipe

ALL_INTERFACES = ("0.0.0.0", "::", "")


def loopback(host: str) -> str:
    """Where a local client reaches a server bound to `host`."""
    return "127.0.0.1" if host in ALL_INTERFACES else host


def base_url(host: str, port: int) -> str:
    return f"http://{loopback(host)}:{port}/v1"


def api_key(recipe: Recipe) -> Optional[str]:
    var = recipe.serve.api_key_env
    return (os.environ.get(var) or None) if var else None


def bearer(key: Optional[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def vllm_url(recipe: Recipe, port: Optional[int] = None) -> str:
    """vLLM's API; on a headless data-parallel node (serve.data_parallel_nodes.start_rank > 0) node 0's, which
    serves the replicas of every node."""
    nodes = recipe.serve.data_parallel_nodes
    if nodes is not None and nodes.headless:
        return base_url(nodes.address, port or recipe.serve.port)
    return base_url(recipe.serve.host, port or recipe.serve.port)


def unresolvable(address: str) -> Optional[str]:
    """Why `address` (a host name or IP) does not resolve here, or None when it does."""
    try:
        socket.getaddrinfo(address, None)
    except OSError as exc:
        return str(exc.strerror or exc)
    return None


def preference_model(recipe: Recipe) -> str:
    """The preference adapter's served model name (preference.serve_name, default e.g. med-lora-dpo)."""
    return recipe.preference.served_name([a.name for a in recipe.serve.adapters])


def quantized_model(recipe: Recipe) -> str:
    """The quantized model's served name (quantize.served_name, default <recipe name>-quantized)."""
    named = recipe.quantize.served_name if recipe.quantize is not None else None
    return named or f"{recipe.name}-quantized"


def gateway(recipe: Recipe) -> GatewaySettings:
    return recipe.rag.gateway if recipe.rag is not None else GatewaySettings()


def gateway_url(recipe: Recipe) -> str:
    gw = gateway(recipe)
    return base_url(gw.host, gw.port)


def rag_suffix(recipe: Recipe) -> str:
    return gateway(recipe).model_suffix


def is_rag_model(model: str, suffix: str) -> bool:
    return bool(suffix) and len(model) > len(suffix) and model.endswith(suffix)


def rag_model(model: str, suffix: str) -> str:
    return model + suffix


def url_for_model(recipe: Recipe, model: str) -> str:
    """The gateway for a retrieval model, else vLLM."""
    return gateway_url(recipe) if is_rag_model(model, rag_suffix(recipe)) else vllm_url(recipe)


def upstream_url(recipe: Recipe) -> str:
    """What the gateway relays to: $MEDKIT_UPSTREAM_URL, else this recipe's vLLM."""
    override = os.environ.get("MEDKIT_UPSTREAM_URL")
    return override.rstrip("/") if override else vllm_url(recipe)


def client_url(recipe: Recipe) -> str:
    """What an interactive client (the demo) talks to: demo.base_url, else the gateway when the
    recipe has rag, else vLLM."""
    if recipe.demo is not None and recipe.demo.base_url:
        return recipe.demo.base_url.rstrip("/")
    return gateway_url(recipe) if recipe.rag is not None else vllm_url(recipe)


def models_answer(url: str, key: Optional[str], timeout: float = 2.0) -> Optional[list[str]]:
    """The model names GET {url}/models lists, or None when it does not answer 200."""
    import httpx  # the app environment's client; the other environments never call an endpoint
    try:
        reply = httpx.get(f"{url}/models", headers=bearer(key), timeout=timeout)
    except httpx.HTTPError:
        return None
    if reply.status_code != 200:
        return None
    return [m["id"] for m in reply.json().get("data", [])]
