"""cMedQA2 preference pairs from `train_candidates.txt` (zhangsheng93/cMedQA2).

`path` is the release folder that the `cmedqa2` format reads (files extracted or zipped; see
converters/cmedqa2.py for the layout and encodings). Each row of
    train_candidates.txt   question_id,pos_ans_id,neg_ans_id
gives one pair for the preference stage:
    instruction  the question               output  the positive answer (chosen)
    meta         {"split": "train", "question_id", "ans_id", "rejected_ans_id",
                  "question", "history": [], "rejected": the negative answer}
The official dev/test questions are held out: `dev_candidates.txt` and `test_candidates.txt`
name them, and a training row about one of them is rejected, so a preference model never
trains on a question its evaluation asks. Those two files must be there (else one reject says
so and no pair is given: leakage could not be ruled out).
Rejects (file, line, reason): malformed rows; a repeated (question, positive, negative) row
("duplicate pair"); a held-out question ("held-out question"); dangling ids; a positive filed
under another question; a negative that is an answer of the same question ("negative answers
the question"); empty, undecodable or garbled content; a positive and a negative of the same
text ("no preference").
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

from converters import cmedqa2
from converters.common import Example, Reject
from converters.pairs import make_pair

HELD_OUT = ("dev_candidates.txt", "test_candidates.txt")


def _held_out(found: dict) -> dict[int, str] | Reject:
    """{question_id: the candidates file naming it} over dev and test; a Reject when one is missing."""
    held: dict[int, str] = {}
    for file in HELD_OUT:
        if file not in found:
            return Reject(file, 0, f"missing file: {file} is needed to hold its questions out of the pairs")
        display, opener = found[file]
        for _, row in cmedqa2._rows(display, opener, 4, 4):
            if not isinstance(row, Reject):  # its bad rows are the `cmedqa2` format's to report
                held.setdefault(row[0], file)
    return held


def read(path: Path) -> Iterator[Example | Reject]:
    root = Path(path)
    if not root.is_dir():
        yield Reject(str(root), 0, "not a directory: cmedqa2-pairs needs the dataset folder (csv/txt or zips)")
        return
    with ExitStack() as stack:
        found, rejects = cmedqa2._locate(root, stack)
        questions = cmedqa2._table(found, cmedqa2.QUESTIONS, 2, rejects)
        answers = cmedqa2._table(found, cmedqa2.ANSWERS, 3, rejects)
        yield from rejects
        for table, names in ((questions, cmedqa2.QUESTIONS), (answers, cmedqa2.ANSWERS)):
            if table is None and not any(n in found for n in names):
                yield Reject(str(root), 0, f"missing file: none of {'/'.join(names)} in {root} or its zips")
        if "train_candidates.txt" not in found:
            yield Reject(str(root), 0, f"missing file: train_candidates.txt not in {root} or its zips")
            return
        held = _held_out(found)
        if isinstance(held, Reject):
            yield Reject(str(root / held.file), 0, held.reason)
            return
        if questions is None or answers is None:
            return
        (q_name, q_table), (a_name, a_table) = questions, answers
        display, opener = found["train_candidates.txt"]
        seen: dict[tuple, int] = {}
        for line, row in cmedqa2._rows(display, opener, 3, 3):
            if isinstance(row, Reject):
                yield row
                continue
            qid, pos, neg = row
            raw = ",".join(map(str, row))
            reason = None
            if (qid, pos, neg) in seen:
                reason = f"duplicate pair: same row as line {seen[qid, pos, neg]}"
            elif qid in held:
                reason = f"held-out question: question_id {qid} is in {held[qid]}"
            elif qid not in q_table:
                reason = f"dangling question_id: {qid} not in {Path(q_name).name}"
            elif pos not in a_table or neg not in a_table:
                reason = f"dangling ans_id: {pos if pos not in a_table else neg} not in {Path(a_name).name}"
            elif a_table[pos][1] != qid:
                reason = f"answer of another question: pos_ans_id {pos} belongs to question_id {a_table[pos][1]}"
            elif a_table[neg][1] == qid:
                reason = f"negative answers the question: neg_ans_id {neg} is filed under question_id {qid}"
            seen.setdefault((qid, pos, neg), line)
            if reason:
                yield Reject(display, line, reason, raw)
                continue
            pair = f"train pair {qid}/{pos}/{neg}, {Path(display).name} line {line}"
            texts = [cmedqa2._content(q_name, q_table[qid], "question", qid, pair),
                     cmedqa2._content(a_name, a_table[pos], "answer", pos, pair),
                     cmedqa2._content(a_name, a_table[neg], "answer", neg, pair)]
            bad = next((t for t in texts if isinstance(t, Reject)), None)
            if bad:
                yield bad
                continue
            made = make_pair(*texts, f"{Path(display).name}:{line}",
                             meta={"split": "train", "question_id": qid, "ans_id": pos, "rejected_ans_id": neg})
            yield Reject(display, line, made, raw) if isinstance(made, str) else made
