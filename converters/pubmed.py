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

Read with common.read_json_records: a JSON array is read item by item (no whole-file
load); its "line" is the 1-based item index. A file whose first non-blank character is
not "[" is read as JSONL.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Document, Example, Reject, convert_records, read_json_records, text_field

MIN_CHARS, MAX_CHARS = 200, 6000
PROMPT = "Write the abstract of a biomedical article titled: {title}"
CHUNK = 1 << 20  # characters per read when streaming a JSON array (handed to read_json_records)


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


def _convert(obj: dict, where: str) -> tuple[Example, Document] | str:
    title, abstract = text_field(obj, "title"), _abstract(obj.get("abstract"))
    if title is None:
        return "empty title"
    if abstract is None:
        return "bad abstract: expected a string or a list of strings/{label, text} sections"
    if not abstract:
        return "missing or empty 'abstract'"
    if len(abstract) < MIN_CHARS:
        return f"abstract too short: {len(abstract)} chars, minimum {MIN_CHARS}"
    if len(abstract) > MAX_CHARS:
        return f"abstract too long: {len(abstract)} chars, maximum {MAX_CHARS}"
    pmid = obj.get("pmid")
    pmid = None if pmid in (None, "") else str(pmid).strip()
    title = " ".join(title.split())
    # the same abstract is also a RAG passage (its corpus id is stable: hash of title+text)
    return (Example(instruction=PROMPT.format(title=title), output=abstract, source=where, meta={"pmid": pmid}),
            Document(title=title, text=abstract, source=where, metadata={"pmid": pmid}))


def read(path: Path) -> Iterator[Example | Document | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path, CHUNK), _convert)
