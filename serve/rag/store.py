"""What indexing and querying share: Chroma clients and names, the BM25 tokenizer and files.

Layout of an index directory (<run_dir>/index by default):
    chroma/            Chroma's persistent store (embedded mode; server mode keeps it on the server)
    bm25/              bm25s index over every chunk of the collection, plus
      chunks.jsonl     one {id, doc_id, title, text, metadata} per BM25 row, in row order
      offsets.npy      byte offset of each line of chunks.jsonl (rows are read on demand)
      meta.json        collection name, embedder name/dim, chunk settings, counts
    building.json      present while `make index` runs, and left behind when it was interrupted:
                       Chroma and BM25 may then disagree, and the gateway says so (503)
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from core.recipe.schema import ChromaSettings

BM25_DIR = "bm25"
CHUNKS_FILE = "chunks.jsonl"
OFFSETS_FILE = "offsets.npy"
META_FILE = "meta.json"
BUILD_MARKER = "building.json"
TOKENIZER = "jieba-lcut+lower/v1"   # recorded with the index; change it when tokenize() changes


class RagError(RuntimeError):
    """A problem the user fixes (missing corpus, wrong embedder, server down); message says how."""


# ---------------------------------------------------------------------------- Chroma

_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def sanitise_collection(name: str) -> str:
    """Chroma's rule: 3-512 characters of [a-zA-Z0-9._-], alphanumeric at both ends."""
    out = _NAME_BAD.sub("-", name)
    out = re.sub(r"\.{2,}", ".", out)                       # older Chroma also refused ".."
    out = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", out)[:512]
    out = re.sub(r"[^A-Za-z0-9]+$", "", out)                 # truncation may expose a separator
    return out if len(out) >= 3 else (out + "-rag" if out else "medkit-rag")


def collection_name(chroma: ChromaSettings, recipe_name: str) -> str:
    return sanitise_collection(chroma.collection or f"medkit-{recipe_name}")


def chroma_path(chroma: ChromaSettings, index_dir: Path) -> Path:
    return Path(chroma.path) if chroma.path else Path(index_dir) / "chroma"


def chroma_client(chroma: ChromaSettings, index_dir: Path):
    """PersistentClient on disk (embedded) or HttpClient to a `chroma run` server."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma.mode == "embedded":
        path = chroma_path(chroma, index_dir)
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    try:
        client = chromadb.HttpClient(host=chroma.host, port=chroma.port, settings=settings)
        client.heartbeat()
    except Exception as exc:
        raise RagError(f"cannot reach the Chroma server at {chroma.host}:{chroma.port} "
                       f"(rag.chroma.mode = server): {type(exc).__name__}. Start it with "
                       f"`chroma run --path <dir> --host {chroma.host} --port {chroma.port}` "
                       f"or use rag.chroma.mode=embedded.") from exc
    return client


# ---------------------------------------------------------------------------- tokenizer

_WORD = re.compile(r"\w")   # Unicode \w: letters, digits and CJK ideographs; drops punctuation/space
STOPWORDS = frozenset("的 了 和 与 及 或 是 在 有 吗 呢 吧 啊 等 也 就 都 而 及其 a an the of and or to in on "
                      "at by for with is are was were be been as it this that".split())
_jieba_lock = threading.Lock()
_jieba = None


def _cut():
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba
            jieba.setLogLevel(logging.WARNING)   # no "Building prefix dict" chatter
            jieba.initialize()
            _jieba = jieba
    return _jieba.lcut


def tokenize(text: str) -> list[str]:
    """BM25 terms: jieba words for Chinese, lowercased words/numbers for Latin script."""
    return [t for t in (w.strip() for w in _cut()(text.lower()))
            if t and _WORD.search(t) and t not in STOPWORDS]


def searchable(title: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its document title gives the passage context
    (for QA corpora the title is the question, which is what users ask). The model reads `text` only."""
    return f"{title}\n{text}" if title and not text.startswith(title) else text


# ---------------------------------------------------------------------------- BM25 files

def bm25_dir(index_dir: Path) -> Path:
    return Path(index_dir) / BM25_DIR


def save_bm25(index_dir: Path, rows: list[dict], meta: dict) -> None:
    """Build and write the BM25 index over `rows` ({id, doc_id, title, text, metadata}).

    Written beside the live directory and swapped in, so a running gateway never reads a half-written one.
    """
    import bm25s

    final = bm25_dir(index_dir)
    tmp = final.with_name(f"{BM25_DIR}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    retriever = bm25s.BM25()
    if rows:
        retriever.index([tokenize(searchable(r["title"], r["text"])) for r in rows], show_progress=False)
        retriever.save(str(tmp), show_progress=False)
    offsets = []
    with (tmp / CHUNKS_FILE).open("wb") as fh:
        for row in rows:
            offsets.append(fh.tell())
            fh.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    np.save(tmp / OFFSETS_FILE, np.asarray(offsets, dtype=np.int64))
    (tmp / META_FILE).write_text(json.dumps({**meta, "chunks": len(rows), "tokenizer": TOKENIZER},
                                            indent=2, ensure_ascii=False), encoding="utf-8")
    old = final.with_name(f"{BM25_DIR}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def clean_temporaries(index_dir: Path) -> list[Path]:
    """Remove bm25.tmp-<pid> / bm25.old-<pid> folders left by runs that are no longer alive."""
    removed = []
    for folder in Path(index_dir).glob(f"{BM25_DIR}.*-*"):
        kind, _, pid = folder.name[len(BM25_DIR) + 1:].partition("-")
        if kind in ("tmp", "old") and pid.isdigit() and (int(pid) == os.getpid() or not pid_alive(int(pid))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def mark_building(index_dir: Path) -> None:
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    (Path(index_dir) / BUILD_MARKER).write_text(json.dumps({"pid": os.getpid(), "started": time.time()}))


def mark_built(index_dir: Path) -> None:
    (Path(index_dir) / BUILD_MARKER).unlink(missing_ok=True)


def build_problem(index_dir: Path) -> str | None:
    """Why the index may be half-built: `make index` running now, or one that never finished."""
    marker = Path(index_dir) / BUILD_MARKER
    try:
        state = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None if not marker.exists() else "its build marker is unreadable"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.get("started", 0)))
    if pid_alive(int(state.get("pid", 0))):
        return f"`make index` is updating it (pid {state['pid']}, since {started})"
    return f"a `make index` started {started} did not finish; run `make index` again"


def indexed_doc_ids(index_dir: Path) -> set[str] | None:
    """The doc ids the built index holds (its BM25 chunk rows), None when no index is built there."""
    path = bm25_dir(index_dir) / CHUNKS_FILE
    if not path.exists():
        return None
    with path.open(encoding="utf-8") as fh:
        return {json.loads(line)["doc_id"] for line in fh if line.strip()}


def read_meta(index_dir: Path) -> dict | None:
    path = bm25_dir(index_dir) / META_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


class Bm25Store:
    """The persisted BM25 index; rows (chunk records) are read from disk on demand, so a
    million-chunk corpus does not sit in the gateway's memory as Python objects."""

    def __init__(self, index_dir: Path):
        import bm25s

        folder = bm25_dir(index_dir)
        self.meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        self.offsets = np.load(folder / OFFSETS_FILE)
        self.model = bm25s.BM25.load(str(folder), show_progress=False) if len(self.offsets) else None
        self._fd = os.open(folder / CHUNKS_FILE, os.O_RDONLY)   # os.pread: safe from many threads
        self._size = os.fstat(self._fd).st_size

    def __len__(self) -> int:
        return len(self.offsets)

    def row(self, i: int) -> dict:
        start = int(self.offsets[i])
        end = int(self.offsets[i + 1]) if i + 1 < len(self.offsets) else self._size
        return json.loads(os.pread(self._fd, end - start, start))

    def top(self, query: str, depth: int) -> list[tuple[int, float]]:
        """(row, raw BM25 score) of the best `depth` rows sharing a term with the query, best first."""
        terms = tokenize(query)
        if self.model is None or not terms:
            return []
        scores = self.model.get_scores(terms)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > depth:
            hits = hits[np.argpartition(-scores[hits], depth - 1)[:depth]]
        hits = hits[np.lexsort((hits, -scores[hits]))]          # score desc, row asc: deterministic
        return [(int(i), float(scores[i])) for i in hits]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # a store replaced after a rebuild is closed once no search holds it
        self.close()
