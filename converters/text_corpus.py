"""Plain-text corpora (medical books, guidelines, notes as .txt): RAG corpus passages.

`path` is a .txt file or a directory (every *.txt directly in it, in name order; macOS `._*`
companions skipped). Text is UTF-8 (a BOM is tolerated). A passage is a block of lines between
blank lines; inside a block the lines are joined as they stand (hard-wrapped Chinese lines
with nothing between them, other lines with a space), so a paragraph wrapped at 80 columns
becomes one passage. Each passage becomes one Document:
    title     the file stem              text      the joined block
    source    "<file name>:<first line>" metadata  {"file": "<stem>", "line": <1-based first line>}
Rejects: a file that is not UTF-8 ("not UTF-8", line 0: the file is skipped), a directory
without .txt files and a missing path (line 0). No Examples: a corpus feeds retrieval only
(LLaMA-Factory's pre-training stage is not wired into the toolkit).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Document, Reject, line_blocks, txt_files

_CJK_END = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]$")
_CJK_START = re.compile(r"^[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _join(lines: list[str]) -> str:
    text = ""
    for line in lines:
        glue = "" if not text or (_CJK_END.search(text) and _CJK_START.search(line)) else " "
        text += glue + line
    return text


def read(path: Path) -> Iterator[Document | Reject]:
    files = txt_files(Path(path))
    if isinstance(files, Reject):
        yield files
        return
    for file in files:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            yield Reject(str(file), 0, f"not UTF-8 (byte {exc.start}); the file is skipped: convert it to UTF-8")
            continue
        for line, block in line_blocks(text.splitlines()):
            yield Document(title=file.stem, text=_join([b.strip() for b in block]), source=f"{file.name}:{line}",
                           metadata={"file": file.stem, "line": line})
