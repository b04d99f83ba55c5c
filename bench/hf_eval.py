"""The seeds' way of evaluating, for bench/eval_runner.py: transformers in-process, one item at a time.

Reads a JSON request {"model_dir", "adapter" (or null), "max_tokens", "chats": [[message, ...], ...]},
answers every chat greedily in turn (stopping at EOS, as an evaluation does) and writes
{"items", "wall_s", "load_s", "completion_tokens"}: wall_s covers the loop only, not loading.

Runs in the train environment:
    python -m bench.hf_eval request.json result.json
"""
from __future__ import annotations

import json
import sys
import time

from bench import hf_generate


def main(request_path: str, result_path: str) -> int:
    request = json.loads(open(request_path, encoding="utf-8").read())
    t0 = time.perf_counter()
    tok, model = hf_generate.load(request["model_dir"], request.get("adapter"))
    loaded = time.perf_counter()
    tokens = 0
    for chat in request["chats"]:
        tokens += hf_generate.generate(tok, model, chat, request["max_tokens"], exact=False)[2]
    done = time.perf_counter()
    result = {"items": len(request["chats"]), "wall_s": round(done - loaded, 3), "load_s": round(loaded - t0, 3),
              "completion_tokens": tokens}
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
