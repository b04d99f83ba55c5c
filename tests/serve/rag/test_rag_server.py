"""Chroma in client/server mode: a real `chroma run` server, the index built and queried over HTTP."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.recipe.schema import ChromaSettings, ChunkSettings, RagSection
from serve.rag.index import build_index
from serve.rag.retriever import open_retriever
from serve.rag.store import RagError
from tests.serve.rag.rag_corpus import CORPUS, write_corpus


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chroma_cli() -> str:
    beside = Path(sys.executable).parent / "chroma"       # the app environment's bin/
    found = str(beside) if beside.exists() else shutil.which("chroma")
    assert found, "the `chroma` CLI (part of chromadb) is missing from the app environment"
    return found


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen([chroma_cli(), "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma server did not start: {(data / 'server.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_index_and_query_through_a_chroma_server(tmp_path, chroma_server, embedder):
    rag = RagSection(chunk=ChunkSettings(size=120, overlap=20),
                     chroma=ChromaSettings(mode="server", host="127.0.0.1", port=chroma_server))
    corpus = write_corpus(tmp_path / "corpus.jsonl", CORPUS)
    first = build_index(rag, corpus, tmp_path / "index", "medkit-server", embedder=embedder, progress=False)
    assert first.new == first.chunks > 0
    again = build_index(rag, corpus, tmp_path / "index", "medkit-server", embedder=embedder, progress=False)
    assert (again.new, again.skipped) == (0, first.chunks)
    assert not (tmp_path / "index" / "chroma").exists()      # vectors live on the server
    retriever = open_retriever(rag, tmp_path / "index", embedder=embedder)
    try:
        assert retriever.describe() == {"collection": "medkit-server", "chunks": first.chunks,
                                        "bm25_chunks": first.chunks, "embedder": "all-MiniLM-L6-v2", "dim": 384,
                                        "mode": "hybrid", "complete": True}
        sources = retriever.search("甲氧基肾上腺素", 3)
        assert sources[0].doc_id == "zh-pheo" and sources[0].score == pytest.approx(1.0)
        dense_top = retriever.dense("Plasma free metanephrines test for pheochromocytoma", 5)[0]
        assert dense_top.doc_id == "en-pheo"
    finally:
        retriever.close()


def test_unreachable_server_is_a_clear_error(tmp_path, embedder):
    port = free_port()                                        # nothing listens there
    rag = RagSection(chroma=ChromaSettings(mode="server", host="127.0.0.1", port=port))
    with pytest.raises(RagError, match=rf"cannot reach the Chroma server at 127.0.0.1:{port}.*chroma run"):
        build_index(rag, write_corpus(tmp_path / "c.jsonl", CORPUS[:2]), tmp_path / "index", "medkit-x",
                    embedder=embedder, progress=False)
