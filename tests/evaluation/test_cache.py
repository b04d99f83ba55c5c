"""The response cache: keys, append-only records, a line cut short by a kill."""
from __future__ import annotations

import json

from evaluation.cache import Cache, file_name, request_key


def test_keys_depend_on_every_part():
    parts = ("sft", "med-lora", "http://127.0.0.1:8000/v1", "item-1", "full", {"temperature": 0.0, "seed": 0})
    key = request_key(*parts)
    assert key == request_key(*parts[:2], "http://127.0.0.1:8000/v1/", *parts[3:])  # trailing slash ignored
    for i, other in enumerate(("base", "base", "http://h:1/v1", "item-2", "minimal", {"temperature": 0.7, "seed": 0})):
        changed = list(parts)
        changed[i] = other
        assert request_key(*changed) != key
    assert file_name("sft+rag") == "sft+rag.jsonl" and file_name("a/b c") == "a_b_c.jsonl"


def test_a_cut_short_last_line_is_ignored_and_not_glued_to(tmp_path):
    path = tmp_path / "t.jsonl"
    with Cache(path) as cache:
        cache.put({"key": "k1", "text": "一"})
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"key": "k2", "text": "被杀')         # the process died mid-write
    cache = Cache(path)
    assert set(cache.entries) == {"k1"} and cache.broken_lines == 1
    with cache:
        cache.put({"key": "k3", "text": "三"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1]) == {"key": "k3", "text": "三"}
    assert set(Cache(path).entries) == {"k1", "k3"}
