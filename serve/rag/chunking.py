"""Chinese-aware chunking: corpus documents -> overlapping passages with stable ids.

A document is cut into sentences at Chinese and ASCII sentence punctuation
(。！？；!?;), at an English full stop followed by whitespace, and at newlines.
Sentences are packed greedily into chunks of at most `size` characters; each
chunk after the first starts with the last `overlap` characters of the previous
one, so a fact split across a boundary is still whole in one of them. A single
sentence longer than `size` is hard-split into windows of `size` characters.

Sizes are in characters, not tokens: one Chinese character is roughly one token
for Chinese embedders, and characters need no tokenizer at index time.

Every chunk is a contiguous span of the original text, so chunking is lossless
and deterministic: the same document always yields the same chunks, and chunk
ids are "<doc id>-<n>" (n from 0), which is what makes re-indexing idempotent.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

# A boundary lies after sentence punctuation (with any closing quotes/brackets
# and whitespace that follow it), after ". " in English, or after a newline.
_BOUNDARY = re.compile(r"(?:[。！？；!?;]+[”’\"'）)」』]*|\.(?=\s)|\n)\s*")


@dataclass
class Chunk:
    id: str                 # "<doc id>-<n>"
    doc_id: str
    index: int              # n: position of the chunk in its document
    text: str
    title: str = ""
    metadata: dict = field(default_factory=dict)


def sentence_bounds(text: str) -> list[int]:
    """Offsets where sentences end (always includes len(text)); text[a:b] between them is one sentence."""
    bounds = [m.end() for m in _BOUNDARY.finditer(text) if m.end() > 0]
    if not bounds or bounds[-1] != len(text):
        bounds.append(len(text))
    return sorted(set(bounds))


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, each with its punctuation; ''.join(result) == text."""
    out, start = [], 0
    for end in sentence_bounds(text):
        if end > start:
            out.append(text[start:end])
        start = end
    return out


def chunk_spans(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) offsets of the chunks of `text`; every span is at most `size` characters."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got size={size} overlap={overlap}")
    n = len(text)
    bounds = sentence_bounds(text)
    spans: list[tuple[int, int]] = []
    start = cursor = 0        # chunk start (with carried overlap) and where its new content begins
    while cursor < n:
        limit = start + size
        # furthest sentence end that fits; none fits -> the sentence is overlong: hard split at `limit`
        i = bisect.bisect_right(bounds, limit) - 1
        end = bounds[i] if i >= 0 and bounds[i] > cursor else min(limit, n)
        spans.append((start, end))
        cursor = end
        if cursor >= n:
            break
        start = max(0, cursor - overlap)
        nxt = bounds[bisect.bisect_right(bounds, cursor)]
        if nxt - cursor <= size:
            # the next sentence fits in a chunk: shrink the carried overlap if needed so it fits whole
            start = max(start, nxt - size)
    return spans


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """The chunk texts, stripped of surrounding whitespace; empty chunks are dropped."""
    pieces = (text[a:b].strip() for a, b in chunk_spans(text, size, overlap))
    return [p for p in pieces if p]


def chunk_document(doc: dict, size: int, overlap: int) -> list[Chunk]:
    """Chunks of one corpus record {id, title, text, source, metadata} (converters/build.py)."""
    doc_id = str(doc["id"])
    title = doc.get("title") or ""
    metadata = dict(doc.get("metadata") or {})
    if doc.get("source"):
        metadata.setdefault("source", doc["source"])
    return [Chunk(id=f"{doc_id}-{n}", doc_id=doc_id, index=n, text=piece, title=title, metadata=metadata)
            for n, piece in enumerate(chunk_text(doc.get("text") or "", size, overlap))]
