"""The retrieval benchmark runs end to end on a small synthetic index, and --reuse times it again."""
from __future__ import annotations

import json

import pytest

from bench import retrieval


@pytest.mark.slow
def test_bench_builds_times_and_reuses_a_kept_index(tmp_path, capsys):
    out = tmp_path / "figures.json"
    argv = ["--chunks", "400", "--queries", "12", "--embed-sample", "16", "--keep", str(tmp_path / "idx"),
            "--out", str(out)]
    assert retrieval.main(argv) == 0
    first = json.loads(out.read_text())
    assert first["chunks"] == 400 and first["build"]["chroma_chunks_per_s"] > 0
    assert first["build"]["embed_chunks_per_s"] > 0 and first["build"]["bm25_build_s"] >= 0
    for stage in ("search", "embed", "dense", "bm25", "fuse"):
        assert 0 < first["latency"][stage]["p50_ms"] <= first["latency"][stage]["p95_ms"]

    assert retrieval.main(argv + ["--reuse"]) == 0
    assert "reusing the index" in capsys.readouterr().out
    again = json.loads(out.read_text())
    assert "chroma_add_s" not in again["build"] and again["latency"]["search"]["p50_ms"] > 0
