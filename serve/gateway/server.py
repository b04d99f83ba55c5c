"""The RAG gateway in the foreground: OpenAI API + Dify external knowledge API in front of vLLM.

Upstream: core.endpoints.upstream_url (this recipe's vLLM, reached on 127.0.0.1 when it
listens on all interfaces, or $MEDKIT_UPSTREAM_URL). The API key (core.endpoints.api_key)
is used twice: clients must send it to the gateway, and the gateway sends it to vLLM. The
retriever opens <run_dir>/index; without an index the gateway still relays plain models,
and '<model>-rag' answers 404 until the index is built.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from core.endpoints import api_key, upstream_url
from core.recipe.schema import RagSection, Recipe
from core.stage import StageFailed, begin
from serve.gateway.app import create_app
from serve.gateway.service import GatewayService
from serve.process import port_free
from serve.rag.types import Retriever

log = logging.getLogger("medkit.gateway")


def open_index(rag: RagSection, index_dir: Path) -> Optional[Retriever]:
    """The retriever over `index_dir`, or None (with a warning) when there is no index to open."""
    if not index_dir.exists():
        log.warning("no index at %s/: '-rag' models are off until `make index` builds it", index_dir)
        return None
    try:
        import torch

        from serve.rag.retriever import open_retriever
        # One thread for query embedding: a query is one short text, and on a box shared with
        # vLLM two spinning OpenMP threads turned a 16 ms p50 search into 500 ms tails (2 cores).
        torch.set_num_threads(1)
    except ImportError as exc:
        log.warning("retriever unavailable (%s): '-rag' models are off", exc)
        return None
    try:
        return open_retriever(rag, index_dir)
    except Exception as exc:  # an index that exists but cannot be opened is an error, not a fallback
        raise StageFailed(f"cannot open the index at {index_dir}/: {type(exc).__name__}: {exc}") from None


def run(recipe: Recipe) -> None:
    """Serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Chroma's HttpClient (server mode) logs each query
    layout = begin(recipe, "gateway")
    rag = recipe.rag or RagSection()
    if recipe.rag is None:
        log.warning("recipe has no rag section: defaults apply and there is no index")
    gw = rag.gateway
    if not port_free(gw.host, gw.port):
        raise StageFailed(f"port {gw.port} on {gw.host} is already in use; pick another, "
                          f"e.g. rag.gateway.port={gw.port + 1}")
    retriever = open_index(rag, layout.index) if recipe.rag else None
    key = api_key(recipe)
    service = GatewayService(upstream_url(recipe), key, retriever, rag)
    app = create_app(service, key, gw)
    print(f"== gateway on http://{gw.host}:{gw.port}/v1 -> upstream {service.upstream_url}")
    print(f"   retrieval: {'on, models <name>' + gw.model_suffix if retriever else 'off (no index)'}; "
          f"auth: {'Bearer key from $' + str(recipe.serve.api_key_env) if key else 'none'}")
    print(f"   Dify external knowledge endpoint: http://{gw.host}:{gw.port} (Dify appends /retrieval)")
    import uvicorn  # here, so that --help-like failures above stay fast

    # no access log: a line per request costs the proxy CPU that the server beside it on a small machine needs
    # (errors and start-up still log); the gateway's own /metrics counts requests
    uvicorn.run(app, host=gw.host, port=gw.port, log_level="info", access_log=False, timeout_graceful_shutdown=5)
