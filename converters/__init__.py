"""Converters: one module per public data format, one signature.

Each format module exposes `read(path) -> Iterator[Example | Reject]`, streaming
one source file; malformed rows come back as `Reject`s (file, line, reason)
instead of being dropped silently.
"""
from converters import alpaca, cmedqa2, medqa, pubmed, qa_jsonl

FORMATS = {
    "qa-jsonl": qa_jsonl.read,
    "alpaca": alpaca.read,
    "medqa": medqa.read,
    "cmedqa2": cmedqa2.read,
    "cmedqa1": cmedqa2.read,  # same layout; the reader finds questions.csv/answers.csv itself
    "pubmed": pubmed.read,
}
