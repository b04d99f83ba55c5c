"""The RAG gateway in the foreground: OpenAI API + Dify external knowledge API in front of vLLM.

Run as:
    python -m serve.gateway recipes/quickstart.yaml [rag.gateway.port=8101 ...]

Upstream: http://<serve.host>:<serve.port>/v1 (127.0.0.1 when vLLM listens on all
interfaces), or $MEDKIT_UPSTREAM_URL. The API key is read from the variable named by
serve.api_key_env and used twice: clients must send it to the gateway, and the gateway
sends it to vLLM. The retriever opens <run_dir>/index; without an index the gateway
still relays plain models, and '<model>-rag' answers 404 until the index is built.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

from recipes.load import load_or_exit, start_run
from recipes.schema import RagSection, Recipe
from serve.gateway.app import create_app
from serve.gateway.service import GatewayService
from serve.process import port_free
from serve.rag.types import Retriever

log = logging.getLogger("medkit.gateway")


def upstream_url(recipe: Recipe) -> str:
    if os.environ.get("MEDKIT_UPSTREAM_URL"):
        return os.environ["MEDKIT_UPSTREAM_URL"].rstrip("/")
    host = recipe.serve.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{host}:{recipe.serve.port}/v1"


def api_key(recipe: Recipe) -> Optional[str]:
    var = recipe.serve.api_key_env
    return (os.environ.get(var) or None) if var else None


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
        raise SystemExit(f"error: cannot open the index at {index_dir}/: {type(exc).__name__}: {exc}") from None


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Chroma's HttpClient (server mode) logs each query
    recipe = load_or_exit(argv)
    out = start_run(recipe, "gateway")
    rag = recipe.rag or RagSection()
    if recipe.rag is None:
        log.warning("recipe has no rag section: defaults apply and there is no index")
    gw = rag.gateway
    if not port_free(gw.host, gw.port):
        raise SystemExit(f"error: port {gw.port} on {gw.host} is already in use; pick another, "
                         f"e.g. rag.gateway.port={gw.port + 1}")
    retriever = open_index(rag, out / "index") if recipe.rag else None
    key = api_key(recipe)
    service = GatewayService(upstream_url(recipe), key, retriever, rag)
    app = create_app(service, key, gw)
    print(f"== gateway on http://{gw.host}:{gw.port}/v1 -> upstream {service.upstream_url}")
    print(f"   retrieval: {'on, models <name>' + gw.model_suffix if retriever else 'off (no index)'}; "
          f"auth: {'Bearer key from $' + str(recipe.serve.api_key_env) if key else 'none'}")
    print(f"   Dify external knowledge endpoint: http://{gw.host}:{gw.port} (Dify appends /retrieval)")
    import uvicorn  # here, so that --help-like failures above stay fast

    uvicorn.run(app, host=gw.host, port=gw.port, log_level="info", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
