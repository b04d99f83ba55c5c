"""Query side of RAG: dense (Chroma) + BM25 retrieval, fusion, optional reranking, de-duplication.

    retriever = open_retriever(recipe.rag, run_dir / "index")
    sources = retriever.search("高血压患者能吃阿司匹林吗", k=5)

Scores are in 0..1, higher is better, and mean:
    dense          cosine similarity of query and chunk (clipped at 0)
    bm25           BM25 score relative to the best hit of this query (best = 1.0)
    hybrid, rrf    reciprocal-rank fusion sum(1/(60 + rank)) divided by its best possible
                   value 2/61, so a chunk ranked first by both retrievers scores 1.0
    hybrid, weighted  dense_weight * minmax(similarity) + (1 - dense_weight) * minmax(BM25)
    with reranker  the cross-encoder's relevance probability
Each retriever contributes max(3k, 50) candidates; fusion needs depth because a
chunk ranked 30th by one retriever can be first after fusion.
"""
from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from core.recipe.schema import RagSection
from serve.rag.embedder import Embedder, load_embedder, model_location
from serve.rag.store import Bm25Store, RagError, bm25_dir, build_problem, chroma_client, read_meta, sanitise_collection
from serve.rag.store import META_FILE
from serve.rag.types import IndexNotReady, Source

RRF_K = 60          # the constant from Cormack et al. (2009); damps the head of each ranking
MIN_DEPTH = 50


@dataclass
class Hit:
    chunk_id: str
    score: float
    doc_id: str = ""
    title: str = ""
    text: str = ""
    metadata: dict = field(default_factory=dict)


def depth_for(k: int) -> int:
    return max(k * 3, MIN_DEPTH)


def rrf(lists: list[list[Hit]], n_lists: int) -> list[Hit]:
    """Reciprocal-rank fusion, normalised by the best possible score (first in all n_lists)."""
    fused: dict[str, Hit] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            into = fused.setdefault(hit.chunk_id, Hit(hit.chunk_id, 0.0, hit.doc_id, hit.title, hit.text,
                                                      hit.metadata))
            into.score += 1.0 / (RRF_K + rank)
    best = n_lists / (RRF_K + 1)
    for hit in fused.values():
        hit.score = min(1.0, hit.score / best)
    return sorted(fused.values(), key=lambda h: (-h.score, h.chunk_id))


def minmax(hits: list[Hit]) -> dict[str, float]:
    if not hits:
        return {}
    lo, hi = min(h.score for h in hits), max(h.score for h in hits)
    return {h.chunk_id: (h.score - lo) / (hi - lo) if hi > lo else 1.0 for h in hits}


def weighted(dense: list[Hit], sparse: list[Hit], dense_weight: float) -> list[Hit]:
    """Weighted sum of min-max normalised scores; a chunk missing from one list gets 0 there."""
    d, s = minmax(dense), minmax(sparse)
    fused = {h.chunk_id: Hit(h.chunk_id, 0.0, h.doc_id, h.title, h.text, h.metadata) for h in sparse + dense}
    for cid, hit in fused.items():
        hit.score = dense_weight * d.get(cid, 0.0) + (1.0 - dense_weight) * s.get(cid, 0.0)
    return sorted(fused.values(), key=lambda h: (-h.score, h.chunk_id))


def trigrams(text: str) -> set[str]:
    compact = re.sub(r"\s+", "", text.lower())
    return {compact[i:i + 3] for i in range(len(compact) - 2)} or {compact}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def collapse(hits: list[Hit], k: int, threshold: float) -> list[Hit]:
    """The first k hits, skipping any whose character 3-gram Jaccard with a kept hit is >= threshold
    (the same passage indexed twice, e.g. from two sources). Hits come best first, so the best stays."""
    kept: list[tuple[Hit, set[str]]] = []
    for hit in hits:
        grams = trigrams(hit.text)
        if all(jaccard(grams, other) < threshold for _, other in kept):
            kept.append((hit, grams))
            if len(kept) == k:
                break
    return [h for h, _ in kept]


class HybridRetriever:
    """Implements serve.rag.types.Retriever over one Chroma collection and its BM25 index."""

    def __init__(self, rag: RagSection, collection, bm25: Bm25Store, embedder: Embedder | None,
                 embedder_name: str, dim: int, reranker=None, index_dir: Path | None = None, reopen=None):
        self.rag, self.settings = rag, rag.retrieval
        self.collection, self.bm25_store = collection, bm25
        self.embedder, self.embedder_name, self.dim = embedder, embedder_name, dim
        self.reranker = reranker
        self.index_dir = Path(index_dir) if index_dir else None
        self._reopen = reopen  # () -> the collection again: `make index --reset` replaces it under its name
        self._bm25_stamp = self._stamp()
        self._rerank_lock = threading.Lock()

    # -- consistency: Chroma and BM25 describe the same chunks, and no build is unfinished ----------

    def _stamp(self) -> tuple | None:
        """Identity of the BM25 files on disk (save_bm25 swaps in a new folder, so a new inode)."""
        try:
            st = (bm25_dir(self.index_dir) / META_FILE).stat() if self.index_dir else None
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns) if st else None

    def problem(self) -> str | None:
        """Why this index cannot answer faithfully now, or None. Follows a finished `make index`
        (a collection replaced by --reset, a new BM25 folder), so a running gateway needs no restart."""
        try:
            in_chroma = self.collection.count()
        except Exception:
            if self._reopen is None:
                raise
            try:
                self.collection = self._reopen()
                in_chroma = self.collection.count()
            except Exception as exc:
                return f"the Chroma collection cannot be read ({type(exc).__name__}: {exc}); run `make index`"
        if self.index_dir is not None:
            building = build_problem(self.index_dir)
            if building:
                return f"the index is incomplete: {building}"
            stamp = self._stamp()
            if stamp is not None and stamp != self._bm25_stamp:
                self.bm25_store, self._bm25_stamp = Bm25Store(self.index_dir), stamp
        in_bm25 = len(self.bm25_store)
        if in_chroma != in_bm25:
            return (f"the index is incomplete: Chroma holds {in_chroma} chunks, BM25 {in_bm25}; "
                    f"run `make index` to bring them in line")
        return None

    # -- the components (bench/retrieval.py times them one by one) --------------------------------

    def embed(self, query: str):
        return self.embedder.encode([query])

    def dense(self, query: str, depth: int, vector=None) -> list[Hit]:
        """Chroma nearest neighbours; score = 1 - cosine distance, clipped to 0..1."""
        vector = self.embed(query) if vector is None else vector
        res = self.collection.query(query_embeddings=vector, n_results=depth,
                                    include=["documents", "metadatas", "distances"])
        hits = []
        for cid, text, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                         res["distances"][0]):
            meta = dict(meta or {})
            hits.append(Hit(cid, min(1.0, max(0.0, 1.0 - float(dist))), meta.pop("doc_id", ""),
                            meta.pop("title", ""), text or "", meta))
        return hits

    def bm25(self, query: str, depth: int) -> list[Hit]:
        """BM25 top rows, raw scores (normalised by the caller); texts read from the BM25 store."""
        hits = []
        for row, score in self.bm25_store.top(query, depth):
            rec = self.bm25_store.row(row)
            hits.append(Hit(rec["id"], score, rec.get("doc_id", ""), rec.get("title", ""), rec.get("text", ""),
                            rec.get("metadata") or {}))
        return hits

    def fuse(self, dense: list[Hit], sparse: list[Hit]) -> list[Hit]:
        mode = self.settings.mode
        if mode == "dense":
            return dense
        if mode == "bm25":
            top = sparse[0].score if sparse else 1.0
            return [Hit(h.chunk_id, h.score / top, h.doc_id, h.title, h.text, h.metadata) for h in sparse]
        if self.settings.fusion == "rrf":
            return rrf([dense, sparse], n_lists=2)
        return weighted(dense, sparse, self.settings.dense_weight)

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        """Cross-encoder scores for the head of the fused list (a cross-encoder costs one forward
        pass per pair, so only max(3k, 20) candidates are rescored); the rest is dropped."""
        head = hits[:max(3 * k, 20)]
        if not head:
            return head
        import torch
        with self._rerank_lock:   # sigmoid always, whatever the model's default: same scale for every query
            raw = self.reranker.predict([(query, h.text) for h in head], show_progress_bar=False,
                                        activation_fn=torch.nn.Sigmoid())
        raw = [float(x) for x in raw]
        out = [Hit(h.chunk_id, s, h.doc_id, h.title, h.text, h.metadata) for h, s in zip(head, raw)]
        return sorted(out, key=lambda h: (-h.score, h.chunk_id))

    # -- the Retriever protocol ---------------------------------------------------------------------

    def search(self, query: str, k: int) -> list[Source]:
        problem = self.problem()
        if problem:
            raise IndexNotReady(problem)
        if k < 1 or not query.strip():
            return []
        depth, mode = depth_for(k), self.settings.mode
        dense = self.dense(query, depth) if mode != "bm25" else []
        sparse = self.bm25(query, depth) if mode != "dense" else []
        hits = self.fuse(dense, sparse)
        if self.reranker is not None:
            hits = self.rerank(query, hits, k)
        hits = collapse(hits, k, self.settings.dedupe_threshold)
        return [Source(chunk_id=h.chunk_id, doc_id=h.doc_id, title=h.title, text=h.text,
                       score=round(h.score, 6), metadata=h.metadata) for h in hits]

    def describe(self) -> dict:
        problem = self.problem()
        facts = {"collection": self.collection.name, "chunks": self.collection.count(),
                 "bm25_chunks": len(self.bm25_store), "embedder": self.embedder_name, "dim": self.dim,
                 "mode": self.settings.mode, "complete": problem is None}
        return {**facts, "problem": problem} if problem else facts

    def close(self) -> None:
        self.bm25_store.close()


def load_reranker(name: str, device: str):
    try:
        from sentence_transformers import CrossEncoder
        return CrossEncoder(model_location(name), device=device)
    except Exception as exc:
        raise RagError(f"rag.retrieval.reranker = {name!r} cannot be loaded offline ({type(exc).__name__}). "
                       f"Give a local cross-encoder directory or a hub id already in the Hugging Face "
                       f"cache, or remove rag.retrieval.reranker.") from exc


def open_retriever(rag: RagSection, index_dir: Path, collection: str | None = None,
                   embedder: Embedder | None = None) -> HybridRetriever:
    """Open the index `make index` built under `index_dir` (<run_dir>/index); RagError when it is
    missing or was built with another embedder than the recipe names."""
    index_dir = Path(index_dir)
    meta = read_meta(index_dir)
    if meta is None:
        raise RagError(f"no RAG index in {index_dir} (missing bm25/meta.json): run `make index RECIPE=...`")
    name = collection or (sanitise_collection(rag.chroma.collection) if rag.chroma.collection else meta["collection"])
    client = chroma_client(rag.chroma, index_dir)
    try:
        col = client.get_collection(name, embedding_function=None)
    except Exception as exc:
        raise RagError(f"Chroma collection '{name}' not found ({rag.chroma.mode} mode): "
                       f"run `make index RECIPE=...`") from exc
    stored = col.metadata or {}
    built_with, built_dim = stored.get("embedder"), stored.get("dim")
    wanted = rag.embedder.model
    advice = "rebuild with `make index ARGS=--reset` (or set rag.embedder.model back)"
    if built_with != wanted:   # checked before loading: the other model may not even exist here
        raise RagError(f"index built with {built_with} (dim {built_dim}), recipe asks for {wanted}: {advice}")
    needs_vectors = rag.retrieval.mode != "bm25"
    if needs_vectors:
        embedder = embedder or load_embedder(rag.embedder)
        if embedder.name != wanted or embedder.dim != built_dim:
            raise RagError(f"index built with {built_with} (dim {built_dim}), recipe asks for "
                           f"{embedder.name} (dim {embedder.dim}): {advice}")
    bm25 = Bm25Store(index_dir)
    if bm25.meta.get("collection") != name or len(bm25) != col.count():
        print(f"warning: BM25 index in {index_dir}/bm25 has {len(bm25)} chunks of "
              f"'{bm25.meta.get('collection')}', Chroma collection '{name}' has {col.count()}: "
              f"run `make index` to bring them in line", file=sys.stderr)
    reranker = load_reranker(rag.retrieval.reranker, rag.embedder.device) if rag.retrieval.reranker else None
    return HybridRetriever(rag, col, bm25, embedder if needs_vectors else None, built_with,
                           int(built_dim or 0), reranker, index_dir,
                           reopen=lambda: client.get_collection(name, embedding_function=None))
