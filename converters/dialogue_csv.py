"""Chinese medical dialogue CSVs (Toyhom/Chinese-medical-dialogue-data, `Data_数据/<科室>/*.csv`).

`path` is one CSV file such as `IM_内科/内科5000-33000.csv`. Header row
    department,title,ask,answer
(the project README calls the third column "question"; that spelling is accepted too, and
the columns are found by name). The files are GB18030/GBK; the encoding is detected over the
whole file: UTF-8 (BOM allowed) when it all decodes, else GB18030 (a superset of GBK).
Fields containing commas, quotes or newlines are quoted, so rows are parsed with the csv
module and a row's "line" is the file line it starts on.
Each valid row becomes:
    instruction  ask (stripped)
    output       answer (stripped)
    meta         {"question": ask, "subject": department or None, "title": title or None}
Rejects: a file that is neither UTF-8 nor GB18030 ("undecodable file", line 0, nothing else
is read), a header without the four columns ("bad header", line 1, nothing else is read),
a row with the wrong number of fields ("bad row"), an empty ask or answer.
"""
from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, csv_records

COLUMNS = ("department", "title", "ask", "answer")
ALIASES = {"question": "ask"}
CHUNK = 1 << 20


def detect_encoding(path: Path) -> str | None:
    """"utf-8-sig" when the whole file decodes as UTF-8, else "gb18030" when that does, else None."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return None


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    encoding = detect_encoding(path)
    if encoding is None:
        yield Reject(str(path), 0, "undecodable file: neither UTF-8 nor GB18030")
        return
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        names = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            yield Reject(str(path), 1, f"bad header: missing column(s) {', '.join(missing)}", ",".join(header)[:200])
            return
        index = {c: names.index(c) for c in COLUMNS}

        def convert(row: list[str], where: str) -> Example | str:
            fields = {c: row[i].strip() for c, i in index.items()}
            empty = next((c for c in ("ask", "answer") if not fields[c]), None)
            if empty:
                return f"missing or empty '{empty}'"
            return Example(instruction=fields["ask"], output=fields["answer"], source=where,
                           meta={"question": fields["ask"], "subject": fields["department"] or None,
                                 "title": fields["title"] or None})

        yield from convert_records(path, csv_records(path, reader, len(header)), convert, raw=",".join)
