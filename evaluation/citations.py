"""RAG answers: citation recall / precision (ALCE-style), hallucination rate, retrieval hit@k.

The support test is lexical, not an NLI model (none runs offline on 2 CPU cores):
    support(sentence, texts) = |B(sentence) ∩ (B(text_1) ∪ … ∪ B(text_k))| / |B(sentence)|
B(x) is the SET of character bigrams of x, characters as evaluation/overlap.py's
CharTokenizer gives them (CJK characters, ASCII words; punctuation, spaces and the
[n] citation marks removed). A sentence is SUPPORTED by texts when support >=
eval.support_threshold (default 0.5). The texts are the sources the gateway returned
(`sources[].snippet`, the first 160 characters of the chunk, its trailing "…" removed);
a sentence of fewer than two characters has no bigram and is not scored.

Sentences: the answer split after 。！？!?；; and at line breaks (an English "." followed
by a space too). Section headers (【病情分析】 …) are removed; the 【免责声明】 section is
left out (a disclaimer claims nothing a source could support); citation marks written
just after the closing punctuation ("…有关。[1]") belong to the sentence before them.
Citation marks: [1]  [1,2]  [1, 3]  [1-3]  [1][2]  ［1］ (numbers = the sources' `index`).

Per answer, as in ALCE (Gao et al. 2023, github.com/princeton-nlp/ALCE, eval.py):
  citation recall     share of sentences that cite something AND are supported by
                      their cited sources together; a sentence citing a number no source
                      has ("[5]" with 3 sources) scores 0, as ALCE scores out-of-range
                      citations (its valid citations do not rescue it)
  citation precision  share of citations that are needed: a citation of a supported
                      sentence with one citation counts; with several citations, a
                      citation counts unless it supports nothing alone while the others
                      still support the sentence without it; citations of unsupported
                      sentences never count (0 when the answer cites nothing)
  hallucination rate  share of sentences supported neither by any single retrieved source
                      (any source shown by the gateway may support it, cited or not) nor by
                      the sources the sentence cites, taken together (so a sentence that
                      needs two cited sources jointly is supported, as for recall)
Reported as means over answers. hit@k: for items whose gold passages are known
(`gold_doc_ids`: a source hits when metadata.doc_id is one of them; `gold_passages`:
when its snippet is part of one of them), the share of items with a hit among the k
sources returned; items without gold are skipped, and so is hit@k when none has any.

Run as (scores one answer against snippets given as [n]=text arguments):
    python -m evaluation.citations "高血压要低盐饮食[1]。" "1=高血压患者应低盐饮食"
"""
from __future__ import annotations

import re
import sys
from typing import Iterable, Optional

from core.stage import command_status
from evaluation.overlap import tokenizer

_CITE = re.compile(r"[\[［]\s*(\d+(?:\s*(?:[,，、]|-|–)\s*\d+)*)\s*[\]］]")
_HEADER = re.compile(r"【[^】\n]{1,10}】")
_SPLIT = re.compile(r"(?<=[。！？!?；;])|(?<=\.)(?=\s)|\n")
_LEADING_CITES = re.compile(r"^\s*((?:[\[［]\s*\d+(?:\s*(?:[,，、]|-|–)\s*\d+)*\s*[\]］]\s*)+)")
DISCLAIMER_SECTION = "【免责声明】"


def cited(sentence: str) -> list[int]:
    """Source numbers cited in a sentence, in order of first mention."""
    out: list[int] = []
    for group in _CITE.findall(sentence):
        for part in re.split(r"\s*[,，、]\s*", group):
            bounds = re.split(r"\s*[-–]\s*", part)
            numbers = range(int(bounds[0]), int(bounds[-1]) + 1) if len(bounds) == 2 else [int(bounds[0])]
            out += [n for n in numbers if n not in out]
    return out


def strip_citations(text: str) -> str:
    return _CITE.sub("", text)


def sentences(answer: str) -> list[str]:
    """The answer's scoreable sentences, citation marks kept (see the module docstring)."""
    text = answer or ""
    if DISCLAIMER_SECTION in text:  # up to the next header, or the end
        start = text.index(DISCLAIMER_SECTION)
        nxt = _HEADER.search(text, start + len(DISCLAIMER_SECTION))
        text = text[:start] + (text[nxt.start():] if nxt else "")
    text = _HEADER.sub("\n", text)
    out: list[str] = []
    for piece in _SPLIT.split(text):
        lead = _LEADING_CITES.match(piece)
        if lead and out:
            out[-1] += lead.group(1).strip()
            piece = piece[lead.end():]
        if len(bigrams(piece)) >= 1:
            out.append(piece.strip())
    return out


def bigrams(text: str) -> set[tuple[str, str]]:
    tokens = tokenizer("char").tokenize(strip_citations(text))
    return set(zip(tokens, tokens[1:]))


def support(sentence: str, texts: Iterable[str]) -> float:
    """Share of the sentence's distinct character bigrams found in the texts (0..1)."""
    own = bigrams(sentence)
    if not own:
        return 0.0
    pool: set = set()
    for text in texts:
        pool |= bigrams(text)
    return len(own & pool) / len(own)


def source_texts(sources: Optional[list[dict]]) -> dict[int, str]:
    """{index: snippet text} of a -rag response's `sources`."""
    out = {}
    for i, source in enumerate(sources or [], start=1):
        snippet = (source.get("snippet") or source.get("text") or "").rstrip("…")
        out[int(source.get("index", i))] = snippet
    return out


def answer_scores(answer: str, sources: Optional[list[dict]], threshold: float) -> Optional[dict]:
    """Per-answer citation recall / precision / hallucination; None when nothing can be scored."""
    sents = sentences(answer)
    if not sents:
        return None
    texts = source_texts(sources)

    def ok(sentence: str, numbers: list[int]) -> bool:
        if not numbers or any(n not in texts for n in numbers):  # out of range: ALCE scores it 0
            return False
        return support(sentence, [texts[n] for n in numbers]) >= threshold

    entail = entail_prec = total_citations = unsupported = cited_sentences = 0
    for sentence in sents:
        refs = cited(sentence)
        joint = ok(sentence, refs) if refs else False
        entail += joint
        cited_sentences += bool(refs)
        total_citations += len(refs)
        if joint and len(refs) > 1:
            for ref in refs:
                needed = ok(sentence, [ref]) or not ok(sentence, [r for r in refs if r != ref])
                entail_prec += needed
        else:
            entail_prec += joint
        if not joint and not any(support(sentence, [t]) >= threshold for t in texts.values()):
            unsupported += 1
    n = len(sents)
    return {"sentences": n, "cited_sentences": cited_sentences, "citations": total_citations,
            "citation_recall": entail / n,
            "citation_precision": entail_prec / total_citations if total_citations else 0.0,
            "hallucination": unsupported / n}


def hit(item: dict, sources: Optional[list[dict]]) -> Optional[bool]:
    """Whether a gold passage is among the returned sources; None when the item has no gold."""
    ids, passages = item.get("gold_doc_ids"), item.get("gold_passages")
    if not ids and not passages:
        return None
    for source in sources or []:
        if ids and (source.get("metadata") or {}).get("doc_id") in ids:
            return True
        snippet = (source.get("snippet") or "").rstrip("…").strip()
        if passages and snippet and any(snippet in p or p in snippet for p in passages):
            return True
    return False


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    sources = [{"index": int(a.split("=", 1)[0]), "snippet": a.split("=", 1)[1]} for a in argv[1:]]
    for s in sentences(argv[0]):
        print(f"{support(s, source_texts(sources).values()):.2f}  {cited(s)}  {s}")
    print(answer_scores(argv[0], sources, 0.5))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
