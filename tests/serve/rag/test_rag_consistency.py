"""An interrupted `make index` is reported, not served: real Chroma, real bm25s, real gateway."""
from __future__ import annotations

import os

import httpx
import pytest

from core.recipe.schema import ChunkSettings, RagSection
from serve.gateway.app import create_app
from serve.gateway.service import GatewayService
from serve.rag import index
from serve.rag.retriever import open_retriever
from serve.rag.store import BUILD_MARKER, clean_temporaries
from serve.rag.types import IndexNotReady
from tests.conftest import Served
from tests.serve.gateway.conftest import UPSTREAM_KEY, FakeVLLM
from tests.serve.rag.rag_corpus import CORPUS, write_corpus

RAG = RagSection(chunk=ChunkSettings(size=120, overlap=20))
AUTH = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
DEAD_PID = 2 ** 22 + 12345  # above the default pid_max: no such process


class CtrlC:
    """The real embedder until its second batch, then KeyboardInterrupt: Ctrl-C at a known point."""

    def __init__(self, embedder, batches: int = 1):
        self.embedder, self.left = embedder, batches
        self.name, self.dim = embedder.name, embedder.dim

    def encode(self, texts):
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.embedder.encode(texts)


def build(tmp_path, embedder, **kw):
    return index.build_index(RAG, write_corpus(tmp_path / "corpus.jsonl", CORPUS), tmp_path / "index",
                             "medkit-test", embedder=embedder, progress=False, **kw)


@pytest.fixture
def served_gateway():
    made = []

    def start(retriever):
        upstream = FakeVLLM()
        up = Served(upstream.app())
        upstream.url = up.url + "/v1"
        service = GatewayService(upstream.url, UPSTREAM_KEY, retriever, RAG)
        gw = Served(create_app(service, UPSTREAM_KEY, RAG.gateway))
        made.extend([gw, up])
        return gw.url

    yield start
    for served in made:
        served.stop()


def test_interrupted_reset_is_reported_by_ready_and_queries_until_a_run_finishes(tmp_path, embedder,
                                                                                  served_gateway):
    full = build(tmp_path, embedder)
    retriever = open_retriever(RAG, tmp_path / "index", embedder=embedder)  # the running gateway's
    url = served_gateway(retriever)
    assert httpx.get(f"{url}/ready", headers=AUTH).status_code == 200
    with pytest.raises(KeyboardInterrupt):  # `make index ARGS=--reset`, Ctrl-C before the first batch landed
        build(tmp_path, CtrlC(embedder, batches=0), reset=True)
    facts = retriever.describe()
    assert (facts["chunks"], facts["bm25_chunks"], facts["complete"]) == (0, full.total, False)  # the case
    assert "is updating it" in facts["problem"]  # the marker names this (still living) process ...
    marker = tmp_path / "index" / BUILD_MARKER   # ... as `make index` exits after Ctrl-C, its pid dies:
    marker.write_text(marker.read_text().replace(str(os.getpid()), str(DEAD_PID)))

    ready = httpx.get(f"{url}/ready", headers=AUTH)
    assert ready.status_code == 503
    problem = ready.json()["checks"]["retriever"]["problem"]
    assert "did not finish" in problem and "make index" in problem
    assert httpx.get(f"{url}/ready").json() == {"status": "not ready"}
    chat = httpx.post(f"{url}/v1/chat/completions", headers=AUTH,
                      json={"model": "base-rag", "messages": [{"role": "user", "content": "高血压"}]})
    assert chat.status_code == 503 and "incomplete" in chat.json()["error"]["message"]
    dify = httpx.post(f"{url}/retrieval", headers=AUTH, json={"knowledge_id": "k", "query": "高血压",
                                                              "retrieval_setting": {"top_k": 2}})
    assert dify.status_code == 503 and dify.json()["error_code"] == 2001
    assert httpx.post(f"{url}/v1/chat/completions", headers=AUTH,  # plain models are unaffected
                      json={"model": "base", "messages": [{"role": "user", "content": "x"}]}).status_code == 200

    again = build(tmp_path, embedder)  # a finished run: consistent again, and the gateway follows it
    assert again.total == full.total and not (tmp_path / "index" / BUILD_MARKER).exists()
    assert httpx.get(f"{url}/ready", headers=AUTH).status_code == 200
    assert retriever.search("高血压", 2) and retriever.describe()["complete"] is True
    retriever.close()


def test_counts_that_disagree_without_a_marker_are_incomplete(tmp_path, embedder, monkeypatch):
    build(tmp_path, embedder)
    monkeypatch.setattr(index, "WRITE_BATCH", 4)
    with pytest.raises(KeyboardInterrupt):  # an incremental run cut short after one batch of new chunks
        build(tmp_path, CtrlC(embedder, batches=1), reset=True)
    (tmp_path / "index" / BUILD_MARKER).unlink()  # e.g. an index copied without its marker
    retriever = open_retriever(RAG, tmp_path / "index", embedder=embedder)
    with pytest.raises(IndexNotReady, match=r"Chroma holds \d+ chunks, BM25 \d+"):
        retriever.search("高血压", 2)
    retriever.close()


def test_a_running_build_is_named_as_such(tmp_path, embedder):
    build(tmp_path, embedder)
    retriever = open_retriever(RAG, tmp_path / "index", embedder=embedder)
    (tmp_path / "index" / BUILD_MARKER).write_text(f'{{"pid": {os.getpid()}, "started": 0}}')
    assert "is updating it" in retriever.describe()["problem"]
    retriever.close()


def test_temporary_folders_of_dead_runs_are_removed(tmp_path, embedder):
    build(tmp_path, embedder)
    dead = DEAD_PID
    leftovers = [tmp_path / "index" / f"bm25.tmp-{dead}", tmp_path / "index" / f"bm25.old-{dead}"]
    live = tmp_path / "index" / "bm25.tmp-1"  # pid 1 lives: another run's, left alone
    for folder in (*leftovers, live):
        folder.mkdir()
        (folder / "chunks.jsonl").write_text("{}\n")
    build(tmp_path, embedder)
    assert not any(f.exists() for f in leftovers) and live.exists()
    assert clean_temporaries(tmp_path / "index") == []
