"""`make index`: the RAG corpus -> chunks -> embeddings in Chroma, plus a BM25 index beside it.

Idempotent and resumable: chunk ids are "<doc id>-<n>" and doc ids hash the
document, so a re-run skips every chunk already in the collection (checked per
batch with collection.get(ids=...)) and embeds only new ones; an interrupted
run picks up where it stopped. `--reset` drops the collection and rebuilds.

The collection records the embedder (name, dimension) and chunk settings it was
built with; building into it with different ones stops with an error, because
mixed vectors or re-cut chunks under old ids would silently corrupt retrieval.
The BM25 index is rebuilt over every chunk of the collection after each run.
Until then <index>/building.json marks the index as incomplete (serve/rag/store.py), so an
interrupted run is reported by the gateway (/ready and queries answer 503) until a run
finishes; temporary BM25 folders of dead runs are removed at the start of the next.

Reads   rag.corpus, default <run_dir>/data/corpus.jsonl (written by `make data`)
Writes  Chroma: rag.chroma.path, default <run_dir>/index/chroma (embedded mode),
        or the `chroma run` server at rag.chroma.host:port (server mode; started, its data in
        rag.chroma.path or <run_dir>/index/chroma, when nothing answers there and rag.chroma.start);
        BM25: <run_dir>/index/bm25/

Run as:
    python -m serve.rag.index recipes/quickstart.yaml [key.sub=value ...] [--reset]
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from core.jsonl import Reject, read_jsonl
from core.recipe.schema import RagSection, Recipe
from core.stage import command_status
from serve.rag.chunking import Chunk, chunk_document
from serve.rag.embedder import Embedder, load_embedder
from serve.rag.store import (RagError, chroma_client, chroma_path, clean_temporaries, collection_name, mark_building, mark_built,
                             sanitise_collection, save_bm25, searchable)

WRITE_BATCH = 256      # chunks per Chroma round-trip (existence check + add); Chroma caps it at ~5k
READ_PAGE = 5000       # chunks per page when reading the whole collection back for BM25


@dataclass
class IndexStats:
    collection: str
    documents: int
    chunks: int            # chunks cut from the corpus this run
    new: int               # embedded and added
    skipped: int           # already in the collection
    total: int             # chunks in the collection afterwards (BM25 covers all of them)
    embed_s: float         # embedding + Chroma writes
    bm25_s: float
    chunks_per_s: float    # new chunks / embed_s


def read_corpus(path: Path) -> list[dict]:
    """Corpus records {id, title, text, source, metadata}; first occurrence of an id wins."""
    if not path.exists():
        raise RagError(f"corpus not found: {path}. Run `make data RECIPE=...` first "
                       f"(it writes <run_dir>/data/corpus.jsonl), or set rag.corpus to a JSONL file.")
    docs, seen = [], set()
    for number, doc in read_jsonl(path):
        if isinstance(doc, Reject):
            raise RagError(f"{path}:{number}: {doc.reason}")
        if "id" not in doc or not isinstance(doc.get("text"), str):
            raise RagError(f"{path}:{number}: expected an object with 'id' and 'text'")
        if doc["id"] not in seen:
            seen.add(doc["id"])
            docs.append(doc)
    return docs


def chroma_metadata(chunk: Chunk) -> dict:
    """Chroma metadata values must be str/int/float/bool: nested values are stored as JSON text."""
    meta = {"doc_id": chunk.doc_id, "title": chunk.title, "chunk": chunk.index}
    for key, value in chunk.metadata.items():
        if key in meta or value is None:
            continue
        meta[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value, ensure_ascii=False)
    return meta


def open_collection(client, name: str, rag: RagSection, embedder: Embedder, reset: bool):
    """Create (cosine space) or reopen the collection; refuse one built with other settings."""
    if reset:
        try:
            client.delete_collection(name)
        except Exception:  # NotFoundError (or ValueError in older clients): nothing to reset
            pass
    wanted = {"embedder": embedder.name, "dim": embedder.dim,
              "chunk_size": rag.chunk.size, "chunk_overlap": rag.chunk.overlap}
    collection = client.get_or_create_collection(name, metadata=wanted, embedding_function=None,
                                                 configuration={"hnsw": {"space": "cosine"}})
    stored = collection.metadata or {}
    if (stored.get("embedder"), stored.get("dim")) != (embedder.name, embedder.dim):
        raise RagError(f"collection '{name}' was built with embedder {stored.get('embedder')!r} "
                       f"(dim {stored.get('dim')}), recipe asks for {embedder.name!r} (dim {embedder.dim}): "
                       f"rebuild with `make index ARGS=--reset` or choose another rag.chroma.collection")
    if (stored.get("chunk_size"), stored.get("chunk_overlap")) != (rag.chunk.size, rag.chunk.overlap):
        raise RagError(f"collection '{name}' was cut with rag.chunk size={stored.get('chunk_size')} "
                       f"overlap={stored.get('chunk_overlap')}, recipe asks for size={rag.chunk.size} "
                       f"overlap={rag.chunk.overlap}: rebuild with `make index ARGS=--reset`")
    return collection


def add_chunks(collection, chunks: list[Chunk], embedder: Embedder, batch: int = WRITE_BATCH,
               progress: bool = True) -> tuple[int, int]:
    """Embed and add the chunks not yet in the collection; returns (new, skipped)."""
    new = skipped = 0
    with tqdm(total=len(chunks), unit="chunk", desc="index", disable=not progress) as bar:
        for start in range(0, len(chunks), batch):
            part = chunks[start:start + batch]
            present = set(collection.get(ids=[c.id for c in part], include=[])["ids"])
            todo = [c for c in part if c.id not in present]
            if todo:
                vectors = embedder.encode([searchable(c.title, c.text) for c in todo])
                collection.upsert(ids=[c.id for c in todo], embeddings=vectors,
                                  documents=[c.text for c in todo], metadatas=[chroma_metadata(c) for c in todo])
            new += len(todo)
            skipped += len(part) - len(todo)
            bar.update(len(part))
    return new, skipped


def collection_rows(collection) -> list[dict]:
    """Every chunk of the collection as a BM25 row, sorted by id (deterministic row order)."""
    rows, offset = [], 0
    while True:
        page = collection.get(include=["documents", "metadatas"], limit=READ_PAGE, offset=offset)
        for cid, text, meta in zip(page["ids"], page["documents"], page["metadatas"]):
            meta = dict(meta or {})
            rows.append({"id": cid, "doc_id": meta.pop("doc_id", cid.rsplit("-", 1)[0]),
                         "title": meta.pop("title", ""), "text": text or "", "metadata": meta})
        if len(page["ids"]) < READ_PAGE:
            break
        offset += READ_PAGE
    rows.sort(key=lambda r: r["id"])
    return rows


def build_index(rag: RagSection, corpus: Path, index_dir: Path, collection: str, reset: bool = False,
                embedder: Embedder | None = None, progress: bool = True) -> IndexStats:
    collection = sanitise_collection(collection)
    docs = read_corpus(Path(corpus))
    chunks: list[Chunk] = []
    for doc in docs:
        chunks.extend(chunk_document(doc, rag.chunk.size, rag.chunk.overlap))
    embedder = embedder or load_embedder(rag.embedder)
    client = chroma_client(rag.chroma, index_dir)
    clean_temporaries(index_dir)
    # From here until BM25 is rewritten, Chroma and BM25 may disagree: an interrupted run leaves the
    # marker, and the gateway answers 503 "incomplete" instead of searching a half-built index.
    mark_building(index_dir)
    try:
        col = open_collection(client, collection, rag, embedder, reset)
    except RagError:
        if not reset:  # refused before changing anything
            mark_built(index_dir)
        raise
    t0 = time.perf_counter()
    batch = min(WRITE_BATCH, client.get_max_batch_size())
    new, skipped = add_chunks(col, chunks, embedder, batch, progress)
    embed_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    rows = collection_rows(col)
    save_bm25(index_dir, rows, {"collection": collection, "embedder": embedder.name, "dim": embedder.dim,
                                "chunk_size": rag.chunk.size, "chunk_overlap": rag.chunk.overlap,
                                "chroma_mode": rag.chroma.mode})
    bm25_s = time.perf_counter() - t1
    mark_built(index_dir)
    return IndexStats(collection=collection, documents=len(docs), chunks=len(chunks), new=new,
                      skipped=skipped, total=len(rows), embed_s=round(embed_s, 3), bm25_s=round(bm25_s, 3),
                      chunks_per_s=round(new / embed_s, 1) if new and embed_s > 0 else 0.0)


def run(recipe: Recipe, reset: bool = False) -> IndexStats:
    """`make index` as a function: StageFailed without a rag section or when the index cannot be built."""
    from core.stage import StageFailed, begin

    if recipe.rag is None:
        raise StageFailed("the recipe has no `rag:` section; add `rag: {}` for the defaults "
                          "(see core/recipe/schema.py RagSection)", 2)
    rag = recipe.rag
    layout = begin(recipe, "index")
    index_dir = layout.index
    corpus = Path(rag.corpus) if rag.corpus else layout.corpus
    name = collection_name(rag.chroma, recipe.name)
    where = (f"{rag.chroma.host}:{rag.chroma.port}" if rag.chroma.mode == "server"
             else str(chroma_path(rag.chroma, index_dir)))
    print(f"   corpus {corpus}  ->  Chroma {rag.chroma.mode} {where} collection '{name}'"
          f"{'  (reset)' if reset else ''}")
    from serve.servers import ensure_chroma
    ensure_chroma(recipe)  # server mode: `chroma run` started unless one answers
    try:
        stats = build_index(rag, corpus, index_dir, name, reset=reset)
    except RagError as exc:
        raise StageFailed(str(exc)) from None
    print(f"   documents {stats.documents}  chunks {stats.chunks}  new {stats.new}  skipped {stats.skipped}  "
          f"in collection {stats.total}")
    print(f"   embedding + upsert {stats.embed_s:.1f} s ({stats.chunks_per_s:.1f} chunks/s, "
          f"{rag.embedder.model})  BM25 {stats.bm25_s:.1f} s")
    (index_dir / "index_stats.json").write_text(json.dumps(asdict(stats), indent=2), encoding="utf-8")
    print(f"   wrote {index_dir}/ (bm25/, index_stats.json)")
    return stats


def main(argv: list[str]) -> int:
    from core.stage import cli

    return cli([a for a in argv if a != "--reset"], run, reset="--reset" in argv)


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
