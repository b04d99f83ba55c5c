"""`make index` on a small invented corpus: real Chroma (embedded), real MiniLM, real bm25s."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from core.recipe.schema import ChromaSettings, ChunkSettings, RagSection
from serve.rag import index
from serve.rag.chunking import chunk_document
from serve.rag.store import Bm25Store, RagError, chroma_client, collection_name, read_meta, sanitise_collection
from tests.serve.rag.rag_corpus import CORPUS, record, write_corpus

RAG = RagSection(chunk=ChunkSettings(size=120, overlap=20))
N_CHUNKS = sum(len(chunk_document(d, 120, 20)) for d in CORPUS)


def build(tmp_path, embedder, reset=False, rag=RAG, corpus=None):
    corpus = corpus or write_corpus(tmp_path / "corpus.jsonl", CORPUS)
    return index.build_index(rag, corpus, tmp_path / "index", "medkit-test", reset=reset,
                             embedder=embedder, progress=False)


def test_build_writes_chunks_vectors_and_bm25(tmp_path, embedder):
    stats = build(tmp_path, embedder)
    assert (stats.documents, stats.chunks, stats.new, stats.skipped, stats.total) == \
        (len(CORPUS), N_CHUNKS, N_CHUNKS, 0, N_CHUNKS)
    assert N_CHUNKS > len(CORPUS)                      # the long and English documents were split
    col = chroma_client(RAG.chroma, tmp_path / "index").get_collection("medkit-test")
    assert col.count() == N_CHUNKS
    assert col.metadata["embedder"] == "all-MiniLM-L6-v2" and col.metadata["dim"] == 384
    assert col.configuration["hnsw"]["space"] == "cosine"
    got = col.get(ids=["zh-long-0", "zh-long-1"], include=["documents", "metadatas", "embeddings"])
    assert got["metadatas"][0]["doc_id"] == "zh-long" and got["metadatas"][0]["title"] == "慢性阻塞性肺疾病"
    assert got["embeddings"].shape == (2, 384)
    meta = read_meta(tmp_path / "index")
    assert meta["collection"] == "medkit-test" and meta["chunks"] == N_CHUNKS
    store = Bm25Store(tmp_path / "index")
    best_row, _ = store.top("甲氧基肾上腺素", 5)[0]
    assert store.row(best_row)["doc_id"] == "zh-pheo"
    store.close()


def test_rerun_adds_nothing_and_an_appended_line_is_the_only_new_chunk(tmp_path, embedder):
    corpus = write_corpus(tmp_path / "corpus.jsonl", CORPUS)
    build(tmp_path, embedder, corpus=corpus)
    again = build(tmp_path, embedder, corpus=corpus)
    assert (again.new, again.skipped, again.total) == (0, N_CHUNKS, N_CHUNKS)
    with corpus.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record("zh-new", "甲状腺结节", "甲状腺结节多数为良性，超声是首选检查。"),
                            ensure_ascii=False) + "\n")
    third = build(tmp_path, embedder, corpus=corpus)
    assert (third.new, third.skipped, third.total) == (1, N_CHUNKS, N_CHUNKS + 1)
    store = Bm25Store(tmp_path / "index")            # BM25 was rebuilt over the whole collection
    assert len(store) == N_CHUNKS + 1
    assert store.row(store.top("甲状腺结节", 3)[0][0])["id"] == "zh-new-0"
    store.close()


def test_interrupted_build_resumes_where_it_stopped(tmp_path, embedder):
    chunks = [c for d in CORPUS for c in chunk_document(d, 120, 20)]
    client = chroma_client(RAG.chroma, tmp_path / "index")
    col = index.open_collection(client, "medkit-test", RAG, embedder, reset=False)
    assert index.add_chunks(col, chunks[:7], embedder, progress=False) == (7, 0)   # "killed" here
    stats = build(tmp_path, embedder)
    assert (stats.new, stats.skipped, stats.total) == (N_CHUNKS - 7, 7, N_CHUNKS)


def test_collection_of_another_embedder_is_refused_until_reset(tmp_path, embedder):
    client = chroma_client(RAG.chroma, tmp_path / "index")
    client.create_collection("medkit-test", metadata={"embedder": "BAAI/bge-small-zh-v1.5", "dim": 512,
                                                      "chunk_size": 120, "chunk_overlap": 20})
    with pytest.raises(RagError, match=r"built with embedder 'BAAI/bge-small-zh-v1.5' \(dim 512\).*"
                                       r"all-MiniLM-L6-v2.*--reset"):
        build(tmp_path, embedder)
    assert build(tmp_path, embedder, reset=True).new == N_CHUNKS


def test_changed_chunk_settings_are_refused(tmp_path, embedder):
    build(tmp_path, embedder)
    other = RagSection(chunk=ChunkSettings(size=200, overlap=20))
    with pytest.raises(RagError, match=r"size=120 overlap=20, recipe asks for size=200.*--reset"):
        build(tmp_path, embedder, rag=other)


def test_collection_names_follow_chroma_rules():
    rule = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
    assert collection_name(ChromaSettings(), "quickstart") == "medkit-quickstart"
    assert collection_name(ChromaSettings(collection="my kb"), "x") == "my-kb"
    for raw in ["medkit-run.", "_x_", "医学库", "a", "-..-", "a" * 600 + "-b", "Run v2 (final)!"]:
        assert rule.match(sanitise_collection(raw)), raw


def recipe_file(tmp_path, corpus: str | None) -> str:
    tree = {"name": "ragtest", "run_dir": str(tmp_path / "run"), "model": {"name_or_path": "tiny"},
            "data": {"sources": [{"format": "qa-jsonl", "path": str(tmp_path / "corpus.jsonl")}]},
            "rag": {"chunk": {"size": 120, "overlap": 20}}}
    if corpus:
        tree["rag"]["corpus"] = corpus
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_cli_builds_reruns_and_resets(tmp_path, embedder, capsys):
    corpus = write_corpus(tmp_path / "corpus.jsonl", CORPUS)
    recipe = recipe_file(tmp_path, str(corpus))
    assert index.main([recipe]) == 0
    out = capsys.readouterr().out
    assert f"documents {len(CORPUS)}  chunks {N_CHUNKS}  new {N_CHUNKS}  skipped 0" in out
    assert "collection 'medkit-ragtest'" in out and "chunks/s" in out
    assert (tmp_path / "run" / "index" / "chroma").is_dir()
    assert index.main([recipe, "rag.retrieval.top_k=3"]) == 0
    assert f"new 0  skipped {N_CHUNKS}" in capsys.readouterr().out
    assert index.main([recipe, "--reset"]) == 0
    assert f"new {N_CHUNKS}  skipped 0" in capsys.readouterr().out
    stats = json.loads((tmp_path / "run" / "index" / "index_stats.json").read_text())
    assert stats["total"] == N_CHUNKS


def test_missing_corpus_tells_to_run_make_data(tmp_path, capsys):
    write_corpus(tmp_path / "corpus.jsonl", CORPUS[:1])       # the recipe's data source, not the corpus
    assert index.main([recipe_file(tmp_path, None)]) == 1
    err = capsys.readouterr().err
    assert "corpus not found" in err and "run" in err and "make data" in err
    assert str(tmp_path / "run" / "data" / "corpus.jsonl") in err
