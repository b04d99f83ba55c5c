"""MedQA textbooks (jind11/MedQA `data_clean/textbooks/{zh_paragraph,zh_sentence,en}/`): RAG corpus.

`path` is one of those DIRECTORIES, or a single .txt file from one. Each file is plain UTF-8
text (a BOM on the first line is tolerated) holding one unit per line: a paragraph
(zh_paragraph, en) or a sentence (zh_sentence). The file stem names the book:
    zh_paragraph/内科学.txt, en/Anatomy_Gray.txt, ...
Files are read in name order; only `*.txt` files directly in the directory are used
(macOS `._*` companions are skipped). Each non-blank line becomes one Document:
    title     the file stem ("内科学")
    text      the line, stripped
    source    "<file name>:<line>"
    metadata  {"book": "<stem>", "line": <1-based line>}
Rejects: a line that is not valid UTF-8 ("not UTF-8"), a directory without .txt files
("no .txt files", line 0) and a path that does not exist ("missing path", line 0).
No Examples: textbooks feed the retrieval corpus only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from converters.common import Document, Reject, txt_files


def _read_file(path: Path) -> Iterator[Document | Reject]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError:
                yield Reject(str(path), number, "not UTF-8", raw[:200].decode("utf-8", "replace"))
                continue
            if text:
                yield Document(title=path.stem, text=text, source=f"{path.name}:{number}",
                               metadata={"book": path.stem, "line": number})


def read(path: Path) -> Iterator[Document | Reject]:
    files = txt_files(Path(path))
    if isinstance(files, Reject):
        yield files
        return
    for file in files:
        yield from _read_file(file)
