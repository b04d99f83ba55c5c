"""Retrieval latency at scale: hybrid search over a synthetic N-chunk index.

Builds a throw-away index in a temporary directory with the same code `make
index` and the gateway use (Chroma collection in cosine space, bm25s over jieba
tokens, HybridRetriever), then times 200 queries: end to end (search(), k=5)
and each component apart:
    embed   the query through the real MiniLM model (all-MiniLM-L6-v2, CPU)
    dense   Chroma HNSW top-50
    bm25    bm25s scores over all chunks + top-50 (+ reading the 50 rows from disk)
    fuse    reciprocal-rank fusion + near-duplicate collapse

What is synthetic: the chunks are generated Chinese-ish medical sentences, and
their vectors are random unit vectors (deterministic from --seed) rather than
model embeddings, because embedding 100k chunks with MiniLM on a CPU takes
longer than the rest of the benchmark; HNSW search cost depends on the number
and dimension of vectors, not on what they mean. The query is embedded with the
real model. The rankings are therefore meaningless; the latencies are not.

Index build throughput is reported in parts: Chroma inserts (precomputed vectors),
BM25 (jieba + bm25s), and the real model embedding --embed-sample chunks; the
`make index` rate on this machine is about the embedding rate, which dominates.

Run as:
    python -m bench.retrieval --chunks 100000 [--queries 200] [--k 5] [--out FILE.json]
    python -m bench.retrieval --chunks 1000000 --keep /tmp/r1m --reuse   # build once, time again later
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from core.recipe.schema import RagSection, RetrievalSettings
from serve.rag.embedder import load_embedder
from serve.rag.index import open_collection
from serve.rag.retriever import collapse, depth_for, open_retriever
from serve.rag.store import chroma_client, save_bm25, searchable

DISEASES = ["高血压", "糖尿病", "冠心病", "哮喘", "慢阻肺", "胃炎", "肝硬化", "肾病综合征", "痛风", "偏头痛",
            "甲状腺功能亢进", "缺铁性贫血", "类风湿关节炎", "带状疱疹", "肺炎", "抑郁症", "骨质疏松", "脑梗死"]
SYMPTOMS = ["头痛", "发热", "咳嗽", "胸闷", "乏力", "恶心", "腹痛", "关节痛", "心悸", "失眠", "水肿", "皮疹"]
DRUGS = ["阿司匹林", "二甲双胍", "氨氯地平", "布地奈德", "奥美拉唑", "阿托伐他汀", "左甲状腺素", "布洛芬",
         "阿莫西林", "胰岛素", "氯吡格雷", "泼尼松"]
TESTS = ["血常规", "肝功能", "肾功能", "心电图", "胸部CT", "腹部超声", "糖化血红蛋白", "甲状腺功能", "尿常规"]
TEMPLATES = [
    "{d}患者常出现{s}和{s2}，应及时到医院就诊。",
    "{d}的治疗可选用{m}，用药期间需要定期复查{t}。",
    "服用{m}后如出现{s}，应暂停用药并咨询医生。",
    "诊断{d}通常需要结合病史、{t}和{t2}的结果。",
    "{d}患者饮食宜清淡，少盐少油，戒烟限酒，适当运动。",
    "长期{s}可能是{d}的早期表现，建议做{t}明确原因。",
    "{m}与{m2}合用时需注意相互作用，老年人应减量。",
]
QUERY_TEMPLATES = ["{d}患者出现{s}怎么办", "{m}有什么副作用", "{d}需要做哪些检查", "{s}是不是{d}",
                   "{d}能吃{m}吗", "{t}异常说明什么"]


def fill(template: str, rng: random.Random) -> str:
    return template.format(d=rng.choice(DISEASES), s=rng.choice(SYMPTOMS), s2=rng.choice(SYMPTOMS),
                           m=rng.choice(DRUGS), m2=rng.choice(DRUGS), t=rng.choice(TESTS), t2=rng.choice(TESTS))


def synthetic_rows(n: int, seed: int) -> list[dict]:
    """n chunks of 3-5 sentences (~80-130 characters), grouped 4 to a document."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        doc = f"doc{i // 4:07d}"
        text = "".join(fill(rng.choice(TEMPLATES), rng) for _ in range(rng.randint(3, 5)))
        rows.append({"id": f"{doc}-{i % 4}", "doc_id": doc, "title": f"{rng.choice(DISEASES)}问答",
                     "text": text, "metadata": {"dataset": "synthetic", "chunk": i % 4}})
    rows.sort(key=lambda r: r["id"])
    return rows


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build(rows: list[dict], index_dir: Path, rag: RagSection, embedder, seed: int) -> dict:
    client = chroma_client(rag.chroma, index_dir)
    col = open_collection(client, "medkit-bench", rag, embedder, reset=True)
    batch = client.get_max_batch_size()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        col.add(ids=[r["id"] for r in part], embeddings=unit_vectors(rng, len(part), embedder.dim),
                documents=[r["text"] for r in part],
                metadatas=[{"doc_id": r["doc_id"], "title": r["title"], **r["metadata"]} for r in part])
    chroma_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    save_bm25(index_dir, rows, {"collection": "medkit-bench", "embedder": embedder.name, "dim": embedder.dim,
                                "chunk_size": rag.chunk.size, "chunk_overlap": rag.chunk.overlap})
    return {"chroma_add_s": round(chroma_s, 1), "chroma_chunks_per_s": round(len(rows) / chroma_s),
            "bm25_build_s": round(time.perf_counter() - t1, 1)}


def embed_rate(rows: list[dict], embedder, n: int) -> dict:
    """Real-model embedding throughput over the first n chunks (what `make index` spends its time on)."""
    texts = [searchable(r["title"], r["text"]) for r in rows[:n]]
    embedder.encode(texts[:8])                                     # warm-up
    t0 = time.perf_counter()
    embedder.encode(texts)
    seconds = time.perf_counter() - t0
    return {"embed_sample": len(texts), "embed_s": round(seconds, 1),
            "embed_chunks_per_s": round(len(texts) / seconds, 1)}


def built_already(index_dir: Path, rag: RagSection, chunks: int) -> bool:
    """True when index_dir holds a finished bench index of `chunks` chunks (Chroma and BM25)."""
    if not (index_dir / "bm25").exists():
        return False
    try:
        return chroma_client(rag.chroma, index_dir).get_collection("medkit-bench").count() == chunks
    except Exception:  # no such collection
        return False


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) * 1000.0   # seconds -> milliseconds


def measure(retriever, queries: list[str], k: int) -> dict:
    depth = depth_for(k)
    for q in queries[:5]:                                          # warm-up: first calls allocate
        retriever.search(q, k)
    parts: dict[str, list[float]] = {"embed": [], "dense": [], "bm25": [], "fuse": [], "components_total": []}
    for q in queries:
        t0 = time.perf_counter()
        vector = retriever.embed(q)
        t1 = time.perf_counter()
        dense = retriever.dense(q, depth, vector=vector)
        t2 = time.perf_counter()
        sparse = retriever.bm25(q, depth)
        t3 = time.perf_counter()
        collapse(retriever.fuse(dense, sparse), k, retriever.settings.dedupe_threshold)
        t4 = time.perf_counter()
        for name, dt in zip(("embed", "dense", "bm25", "fuse", "components_total"),
                            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            parts[name].append(dt)
    end_to_end = []
    for q in queries:
        t0 = time.perf_counter()
        retriever.search(q, k)
        end_to_end.append(time.perf_counter() - t0)
    parts = {"search": end_to_end, **parts}
    return {name: {"p50_ms": round(pct(v, 50), 2), "p95_ms": round(pct(v, 95), 2),
                   "mean_ms": round(statistics.fmean(v) * 1000, 2)} for name, v in parts.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="build the index here and keep it (default: a temp dir, removed)")
    ap.add_argument("--reuse", action="store_true", help="with --keep: time the index already built there")
    ap.add_argument("--embed-sample", type=int, default=512, help="chunks embedded with the real model")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = ap.parse_args(argv)

    rag = RagSection(retrieval=RetrievalSettings(mode="hybrid", fusion="rrf"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="medkit-bench-retrieval-"))
    try:
        t0 = time.perf_counter()
        embedder = load_embedder(rag.embedder)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = synthetic_rows(args.chunks, args.seed)
        gen_s = time.perf_counter() - t0
        print(f"== retrieval bench: {args.chunks} synthetic chunks, {args.queries} queries, k={args.k}, "
              f"{os.cpu_count()} CPU cores, index in {work}")
        print(f"   embedder {embedder.name} (dim {embedder.dim}) loaded in {load_s:.1f} s; "
              f"chunks generated in {gen_s:.1f} s")
        build_stats = embed_rate(rows, embedder, args.embed_sample)
        print(f"   embedding ({embedder.name}, {build_stats['embed_sample']} chunks): "
              f"{build_stats['embed_chunks_per_s']} chunks/s")
        if args.reuse and args.keep and built_already(work / "index", rag, args.chunks):
            print(f"   reusing the index built in {work}/index")
        else:
            build_stats.update(build(rows, work / "index", rag, embedder, args.seed))
            print(f"   build: Chroma add {build_stats['chroma_add_s']} s ({build_stats['chroma_chunks_per_s']} "
                  f"chunks/s, random unit vectors), BM25 (jieba + bm25s) {build_stats['bm25_build_s']} s")
        del rows
        retriever = open_retriever(rag, work / "index", embedder=embedder)
        qrng = random.Random(args.seed + 1)
        queries = [fill(qrng.choice(QUERY_TEMPLATES), qrng) for _ in range(args.queries)]
        figures = measure(retriever, queries, args.k)
        retriever.close()
        print(f"   {'stage':18s} {'p50 ms':>9s} {'p95 ms':>9s} {'mean ms':>9s}")
        for name, f in figures.items():
            print(f"   {name:18s} {f['p50_ms']:9.2f} {f['p95_ms']:9.2f} {f['mean_ms']:9.2f}")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"chunks": args.chunks, "queries": args.queries, "k": args.k,
                                            "cpu_cores": os.cpu_count(), "embedder": embedder.name,
                                            "build": build_stats, "latency": figures}, indent=2))
            print(f"   wrote {args.out}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
