"""Converter speed and memory on a full-size synthetic cMedQA2.

Writes a synthetic release with the real one's shape (DESIGN.md §5: 120,000
questions, 226,266 answers, ~2M candidate rows: train 100,000 questions x 12
triples, dev and test 4,000 questions x 100 candidates), then times the cmedqa2
converter reading all of it in a fresh process and reports its peak memory.

Run as:
    python -m bench.convert_cmedqa2 [--out /tmp/cmedqa2-synthetic] [--scale 1.0]
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from core.stage import command_status

SYLLABLES = "头痛发热咳嗽腹泻失眠胸闷乏力皮疹恶心呕吐咽痛鼻塞关节疼痛血压血糖心慌"


def text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(n)) + "，怎么办？"


def generate(out: Path, scale: float) -> dict:
    rng = random.Random(0)
    n_q, n_a = int(120_000 * scale), int(226_266 * scale)
    n_train, n_eval = int(100_000 * scale), int(4_000 * scale)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "question.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["question_id", "content"])
        for q in range(n_q):
            w.writerow([q, text(rng, rng.randint(15, 60))])
    answers_of: dict[int, list[int]] = {}
    with (out / "answer.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ans_id", "question_id", "content"])
        for a in range(n_a):
            q = a % n_q
            answers_of.setdefault(q, []).append(a)
            w.writerow([a, q, text(rng, rng.randint(40, 160))])
    rows = 0
    with (out / "train_candidates.txt").open("w", encoding="utf-8") as fh:
        fh.write("question_id,pos_ans_id,neg_ans_id\n")
        for q in range(n_train):
            for _ in range(12):  # positives repeat across triples, as in the release
                fh.write(f"{q},{rng.choice(answers_of[q])},{rng.randrange(n_a)}\n")
                rows += 1
    for name, start in (("dev", n_train), ("test", n_train + n_eval)):
        with (out / f"{name}_candidates.txt").open("w", encoding="utf-8") as fh:
            fh.write("question_id,ans_id,cnt,label\n")
            for q in range(start, start + n_eval):
                positives = answers_of.get(q, [])
                for cnt in range(100):
                    is_pos = cnt < len(positives)
                    aid = positives[cnt] if is_pos else rng.randrange(n_a)
                    fh.write(f"{q},{aid},{cnt},{1 if is_pos else 0}\n")
                    rows += 1
    return {"questions": n_q, "answers": n_a, "candidate_rows": rows}


CHILD = """
import resource, sys, time, json
from pathlib import Path
from converters import cmedqa2
from converters.common import Example, Reject
t = time.perf_counter(); counts = {"examples": 0, "rejects": 0}
for item in cmedqa2.read(Path(sys.argv[1])):
    counts["examples" if isinstance(item, Example) else "rejects"] += 1
counts["seconds"] = round(time.perf_counter() - t, 2)
counts["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB
print(json.dumps(counts))
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cmedqa2-synthetic"))
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    shape = generate(args.out, args.scale)
    print(f"generated {shape} in {time.perf_counter() - started:.0f} s under {args.out}/")
    done = subprocess.run([sys.executable, "-c", CHILD, str(args.out)], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    result = json.loads(done.stdout)
    print(f"cmedqa2 converter: {result['examples']} examples, {result['rejects']} rejects in "
          f"{result['seconds']} s, peak memory {result['peak_rss_mb']} MB "
          f"(targets: < 60 s, < 1024 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
