"""Exact and near-duplicate removal, and train/eval leakage, on Chinese QA text.

Rules
  * Exact key: clean_text, lowercase, then every whitespace, punctuation (P*) and
    separator (Z*) character of the BMP removed: "头痛怎么办？" == "头痛 怎么办?".
    Same key -> exact duplicate (similarity 1.0, kind "exact").
  * Shingles: the set of character 3-grams of the key, each packed into one int
    (3 x 21 bits, injective), so Jaccard on them IS Jaccard on the 3-grams. A key
    shorter than 3 characters is its own single shingle.
  * Near duplicate: Jaccard(shingles) >= threshold (kind "near"). MinHash + LSH
    only propose candidates; every candidate is checked with the exact Jaccard,
    so LSH can cost recall, never precision.
  * The first occurrence is kept; later items are compared with kept items only
    (no chains through dropped ones) and attributed to the most similar one
    (ties: the earliest). Dropped.kept_index indexes the returned `kept` list.

MinHash (trade-off): one-permutation hashing with "optimal densification". One
Carter-Wegman hash h = (a*x+b) mod 2^61-1 per shingle; slot h mod num_perm keeps
its smallest h; an empty slot copies the first filled slot on a probe sequence
fixed per slot. Each slot still collides with probability = Jaccard, as with
num_perm permutations, for one hash per shingle instead of num_perm: classic
MinHash (even with cheap XOR-mask permutations) took ~20 s for the signatures
alone of 100k 55-character texts in pure Python, this ~2 s. a, b and the probes
come from random.Random(seed): deterministic.

LSH: bands x rows <= num_perm, and a pair is a candidate only if it collides in
>= 2 bands. A single shared band is common between unrelated texts with the
same boilerplate (a templated 100k corpus took ~100 s that way); two are rare
for them (P ~ 3e-4 at similarity 0.2) and near-certain for duplicates. Unless
`bands` is given, rows is the largest value giving P(candidate) >= 0.99 AT the
threshold (64 slots, 0.8 -> 16 bands x 4 rows: P = 0.997 at 0.8, 0.925 at 0.7).

Measured (one core of a 2-core box shared with a CI run, so approximate):
100k synthetic medical QA texts (~85 characters, sample sentences with random
edits, 10% edited copies): ~10-11 s, ~290 MB peak RSS, 8861 dropped (8864 when
one shared band sufficed). 100k texts built from only 14 phrases (worst-case
boilerplate, the test corpus): ~19 s. Kept lists identical to brute-force exact
Jaccard on 2 x 2500 and 400 test-corpus texts. Re-run with
  MEDKIT_BENCH=1 pytest -s tests/converters/prep/test_prep_dedupe.py -k 100k
"""
from __future__ import annotations

import operator
import random
import unicodedata
from array import array
from typing import Any, Callable, Iterable, NamedTuple

from converters.common import Example
from converters.prep.clean import clean_text

_P61 = (1 << 61) - 1
_SHIFT42, _SHIFT21 = 1 << 42, 1 << 21
_DELETE = {c: None for c in range(0x10000)
           if unicodedata.category(chr(c))[0] in "PZ" or chr(c).isspace()}


class Dropped(NamedTuple):
    item: Any
    kept_index: int      # index into the `kept` list returned by dedupe()
    similarity: float    # exact Jaccard on shingles; 1.0 for exact duplicates
    kind: str            # "exact" | "near"


def text_of(item: Any) -> str:
    """Question + answer text of a str, an Example, or a dict (question/answer or alpaca columns)."""
    if isinstance(item, str):
        return item
    if isinstance(item, Example):
        return "\n".join((item.instruction, item.input, item.output))
    if isinstance(item, dict):
        if "question" in item or "answer" in item:
            return f"{item.get('question', '')}\n{item.get('answer', '')}"
        return "\n".join(str(item.get(k, "")) for k in ("instruction", "input", "output"))
    raise TypeError(f"no text for {type(item).__name__}; pass key=")


def normalise(text: str) -> str:
    return clean_text(text).lower().translate(_DELETE)


def shingles(norm: str) -> frozenset[int]:
    """Character 3-grams of `norm`, each packed as c1<<42 | c2<<21 | c3 (map() keeps the loops in C)."""
    codes = list(map(ord, norm))
    if len(codes) < 3:
        return frozenset([sum(c << (21 * (2 - i)) for i, c in enumerate(codes))]) if codes else frozenset()
    high = map(_SHIFT42.__mul__, codes)
    mid = map(_SHIFT21.__mul__, codes[1:])
    return frozenset(map(operator.or_, map(operator.or_, high, mid), codes[2:]))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def hit_probability(s: float, rows: int, bands: int) -> float:
    """P(a pair with Jaccard s collides in at least 2 of the bands)."""
    p = s ** rows
    return 1 - (1 - p) ** bands - bands * p * (1 - p) ** (bands - 1)


def choose_rows(num_perm: int, threshold: float) -> int:
    """Largest rows per band that still makes a pair AT the threshold a candidate with P >= 0.99."""
    best = 1
    for rows in range(1, num_perm // 2 + 1):
        if hit_probability(threshold, rows, num_perm // rows) >= 0.99:
            best = rows
    return best


class _Index:
    """Exact keys + LSH buckets over the items added so far."""

    def __init__(self, threshold: float, num_perm: int, bands: int | None, seed: int):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if num_perm < 2 or (bands is not None and not 1 <= bands <= num_perm):
            raise ValueError(f"need num_perm >= 2 and 1 <= bands <= num_perm, got {num_perm}, {bands}")
        rng = random.Random(seed)
        self.threshold, self.num_perm = threshold, num_perm
        self.a, self.b = rng.randrange(1, _P61), rng.randrange(_P61)
        # probe sequence per slot: random slots, then every other slot (guarantees a hit)
        self.probes = [[rng.randrange(num_perm) for _ in range(2 * num_perm)]
                       + [(j + k) % num_perm for k in range(1, num_perm)] for j in range(num_perm)]
        self.rows = num_perm // bands if bands else choose_rows(num_perm, threshold)
        self.bands = num_perm // self.rows
        self.exact: dict[str, int] = {}
        # bucket value: one int, or a list once a second item lands there. Most buckets
        # hold one item, and plain ints keep ~1.6M small lists (and GC work) away at 100k.
        self.buckets: list[dict[int, int | list[int]]] = [{} for _ in range(self.bands)]
        # shingle sets stored as arrays: ~8 bytes a shingle instead of ~70 in a frozenset
        self.sets: list[array] = []

    def signature(self, sh: frozenset[int]) -> list[int]:
        # h = (a*x + b) mod P; slot j = h mod k keeps its smallest h (h itself stands for
        # h div k: same order inside one slot). Sorting descending and building a dict
        # lets the last, i.e. smallest, h of each slot win, all inside C loops.
        k = self.num_perm
        hs = sorted(map(_P61.__rmod__, map(self.b.__add__, map(self.a.__mul__, sh))), reverse=True)
        smallest = dict(zip(map(k.__rmod__, hs), hs))
        sig = list(map(smallest.get, range(k)))
        if len(smallest) < k:   # densify: an empty slot copies the first filled slot on its probe path
            for j in range(k):
                if sig[j] is None:
                    sig[j] = next(smallest[p] for p in self.probes[j] if p in smallest)
        return sig

    def band_keys(self, sig: list[int]) -> list[int]:
        # consecutive groups of `rows` slots; hash() of an int tuple is the same in every process
        return list(map(hash, zip(*[iter(sig)] * self.rows)))

    def entry(self, norm: str) -> tuple[frozenset[int], list[int] | None]:
        sh = shingles(norm)
        return sh, (self.band_keys(self.signature(sh)) if sh else None)

    def lookup(self, norm: str) -> tuple[tuple[int, float, str] | None, tuple | None]:
        """(match or None, entry for add()); match = (index, similarity, kind)."""
        if norm in self.exact:
            return (self.exact[norm], 1.0, "exact"), None
        sh, keys = entry = self.entry(norm)
        if not sh:
            return None, entry
        # A candidate must share at least 2 bands (1 if there is only one band): unrelated
        # texts with common boilerplate share one band now and then, near duplicates
        # share several (expected 6.5 of 16 at similarity 0.8). Set operations keep it in C.
        seen: set[int] = set()
        candidates: set[int] = set()
        for hit in map(dict.get, self.buckets, keys):
            if hit is None:
                continue
            members = (hit,) if type(hit) is int else hit
            candidates.update(seen.intersection(members))
            seen.update(members)
        if self.bands == 1:
            candidates = seen
        best = None
        n, t = len(sh), self.threshold
        for idx in sorted(candidates):
            other = self.sets[idx]
            m = len(other)
            if min(n, m) < t * max(n, m):  # size bound: J <= min/max, skip without a set
                continue
            inter = len(sh.intersection(other))
            sim = inter / (n + m - inter)
            if sim >= t and (best is None or sim > best[1]):
                best = (idx, sim, "near")
        return best, entry

    def add(self, norm: str, entry: tuple | None = None) -> int:
        """Append one item; an exact repeat only takes a position (never a bucket)."""
        idx = len(self.sets)
        if norm in self.exact:
            self.sets.append(self.sets[self.exact[norm]])
            return idx
        sh, keys = entry or self.entry(norm)
        self.exact[norm] = idx
        self.sets.append(array("Q", sh))
        for bucket, key in zip(self.buckets, keys or ()):
            hit = bucket.get(key)
            if hit is None:
                bucket[key] = idx
            elif type(hit) is list:
                hit.append(idx)
            else:
                bucket[key] = [hit, idx]
        return idx


def dedupe(items: Iterable[Any], key: Callable[[Any], str] = text_of, threshold: float = 0.8, *,
           num_perm: int = 64, bands: int | None = None, seed: int = 0) -> tuple[list, list[Dropped]]:
    """(kept, dropped): first occurrences kept in input order; see the module docstring."""
    index = _Index(threshold, num_perm, bands, seed)
    kept: list = []
    dropped: list[Dropped] = []
    for item in items:
        norm = normalise(key(item))
        match, entry = index.lookup(norm)
        if match is None:
            index.add(norm, entry)
            kept.append(item)
        else:
            dropped.append(Dropped(item, *match))
    return kept, dropped


def leakage(train_questions: Iterable[Any], eval_questions: Iterable[Any], threshold: float = 0.8, *,
            key: Callable[[Any], str] = text_of, num_perm: int = 64, bands: int | None = None,
            seed: int = 0) -> list[tuple[int, int, float]]:
    """(eval_index, train_index, similarity) for each eval question found in training data.

    Exact matches come back with similarity 1.0 and the first training index;
    near ones with their best (most similar, then earliest) training question.
    """
    index = _Index(threshold, num_perm, bands, seed)
    for item in train_questions:
        index.add(normalise(key(item)))   # positions stay aligned with train_questions
    found = []
    for i, item in enumerate(eval_questions):
        match, _ = index.lookup(normalise(key(item)))
        if match is not None:
            found.append((i, match[0], match[1]))
    return found
