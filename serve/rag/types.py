"""What retrieval hands to the gateway: numbered sources with scores."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Source:
    chunk_id: str          # stable: <doc id>-<chunk index>
    doc_id: str
    title: str
    text: str              # the chunk text (what the model reads)
    score: float           # 0..1, higher is better (fused / normalised)
    metadata: dict = field(default_factory=dict)

    def snippet(self, chars: int = 160) -> str:
        return self.text if len(self.text) <= chars else self.text[:chars] + "…"


class IndexNotReady(RuntimeError):
    """The index cannot answer faithfully (an interrupted or running `make index`); says why and what to run."""


class Retriever(Protocol):
    def search(self, query: str, k: int) -> list[Source]:
        """The k best sources for `query`, best first; IndexNotReady when the index is incomplete."""
        ...

    def describe(self) -> dict:
        """Index facts for /ready: collection, chunk count, embedder name and dimension; with
        `complete` False (and `problem`) when the index is incomplete."""
        ...
