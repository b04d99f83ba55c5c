"""Shared fixture for the RAG tests: the real MiniLM embedder, loaded once."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    """The real packaged MiniLM, loaded once for the whole folder (a few seconds on CPU)."""
    from core.recipe.schema import EmbedderSettings
    from serve.rag.embedder import load_embedder
    return load_embedder(EmbedderSettings())
