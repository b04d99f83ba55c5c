"""PubMed scraper output: records {"pmid", "title", "abstract"} as a JSON array or JSONL.

`abstract` is either one string or, as Entrez returns `AbstractText`, a list of sections:
plain strings or objects {"label": "METHODS", "text": "..."} (also "Label"/"#text" spellings).
Each valid record becomes:
    instruction  "Write the abstract of a biomedical article titled: <title>"
    output       the abstract; labelled sections as "LABEL: text" lines, joined by newlines
    meta         {"pmid": "<pmid as a string>"}  (None when the record has no pmid)
and also a corpus Document (title, abstract, metadata {"pmid"}) for retrieval.
Rejects: bad JSON, empty title, missing/empty abstract, malformed sections, and the length
filter on the joined abstract ("abstract too short" < 200 chars, "abstract too long" > 6000).

A JSON array is read item by item (no whole-file load); its "line" is the 1-based item
index. A file whose first non-blank character is not "[" is read as JSONL.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from converters.common import Document, Example, Reject, read_jsonl, text_field

MIN_CHARS, MAX_CHARS = 200, 6000
PROMPT = "Write the abstract of a biomedical article titled: {title}"
CHUNK = 1 << 20
BLANK = "\ufeff \t\r\n"


def _array_items(path: Path) -> Iterator[tuple[int, dict | Reject]]:
    """Stream the items of a top-level JSON array with raw_decode over a sliding buffer."""
    decoder, index = json.JSONDecoder(), 0
    with path.open(encoding="utf-8") as fh:
        try:
            buf, pos, eof = fh.read(CHUNK).lstrip(BLANK)[1:], 0, False  # drop the "["
            while True:
                while pos < len(buf) and buf[pos] in BLANK + ",":
                    pos += 1
                if pos >= len(buf) and not eof:
                    buf, pos = fh.read(CHUNK), 0
                    eof = not buf
                    continue
                if pos < len(buf) and buf[pos] == "]":
                    return
                if eof:
                    yield index + 1, Reject(str(path), index + 1, "bad JSON: array not closed with ']'")
                    return
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    more = fh.read(CHUNK)  # maybe the item is only cut by the buffer's end
                    if more:
                        buf, pos = buf[pos:] + more, 0
                        continue
                    yield index + 1, Reject(str(path), index + 1,
                                            f"bad JSON: {exc.msg} (rest of file skipped)", buf[pos:pos + 200])
                    return
                index, pos = index + 1, end
                yield index, obj if isinstance(obj, dict) else Reject(str(path), index, "array item is not an object")
        except UnicodeDecodeError:
            yield index + 1, Reject(str(path), index + 1, "not UTF-8 (rest of file skipped)")


def _objects(path: Path) -> Iterator[tuple[int, dict | Reject]]:
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(4096).lstrip(BLANK)[:1]
    except UnicodeDecodeError:
        head = ""
    yield from (_array_items(path) if head == "[" else read_jsonl(path))


def _abstract(value) -> str | None:
    """Joined abstract text, "" when empty; None when a section is malformed."""
    if isinstance(value, str):
        return value.strip()
    if not isinstance(value, list):
        return "" if value is None else None
    lines = []
    for section in value:
        if isinstance(section, dict):
            label = next((section[k] for k in ("label", "Label") if section.get(k)), "")
            text = next((section[k] for k in ("text", "#text", "Text") if k in section), None)
        else:
            label, text = "", section
        if not isinstance(text, str) or not isinstance(label, str):
            return None
        if text.strip():
            lines.append(f"{label.strip()}: {text.strip()}" if label.strip() else text.strip())
    return "\n".join(lines)


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    for number, obj in _objects(path):
        if isinstance(obj, Reject):
            yield obj
            continue
        raw = json.dumps(obj, ensure_ascii=False)[:200]
        title, abstract = text_field(obj, "title"), _abstract(obj.get("abstract"))
        if title is None:
            reason = "empty title"
        elif abstract is None:
            reason = "bad abstract: expected a string or a list of strings/{label, text} sections"
        elif not abstract:
            reason = "missing or empty 'abstract'"
        elif len(abstract) < MIN_CHARS:
            reason = f"abstract too short: {len(abstract)} chars, minimum {MIN_CHARS}"
        elif len(abstract) > MAX_CHARS:
            reason = f"abstract too long: {len(abstract)} chars, maximum {MAX_CHARS}"
        else:
            pmid = obj.get("pmid")
            pmid = None if pmid in (None, "") else str(pmid).strip()
            yield Example(instruction=PROMPT.format(title=" ".join(title.split())), output=abstract,
                          source=f"{path.name}:{number}", meta={"pmid": pmid})
            # the same abstract is also a RAG passage (its corpus id is stable: hash of title+text)
            yield Document(title=" ".join(title.split()), text=abstract, source=f"{path.name}:{number}",
                           metadata={"pmid": pmid})
            continue
        yield Reject(str(path), number, reason, raw)
