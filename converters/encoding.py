"""Text encodings of CSV sources, decided per file and checked per row.

Public Chinese CSVs come as UTF-8, GBK/GB18030 (Toyhom dialogue data) and sometimes Big5
(Taiwan), and files edited by hand mix them: one UTF-8 row appended to a GBK file. Decoding
a whole file with one codec either fails (the file is lost) or silently garbles (Big5 bytes
are mostly valid GB18030: "小孩發燒" comes out as private-use characters). So:

  1. The file is parsed as CSV over latin-1 text. Every byte maps to one character, and the
     CSV syntax (comma, quote, CR, LF) is ASCII, which no multi-byte character of UTF-8,
     GBK/GB18030 or Big5 uses as a trail byte, so quoted commas and newlines split right.
  2. legacy_encoding(path): the codec for the rows that are not UTF-8, chosen by
     charset-normalizer over those rows only (up to SAMPLE bytes): the GB family -> gb18030
     (a superset of GBK and GB2312). Any other answer (Big5, or a guess such as a Korean codec
     for a few short rows), or none, is checked: of gb18030, big5hkscs (a superset of Big5) and
     that guess, the codec under which the rows hold the most Chinese text, less ten per
     wrong-codec mark (private-use characters), wins; ties go to gb18030.
  3. decode_row(fields, legacy): a row is UTF-8 when all of its bytes are, else it is decoded
     with the legacy codec. A row that decodes with neither, or whose text holds private-use
     characters (U+E000-U+F8FF) or U+FFFD -- the marks of a wrong codec -- is rejected with
     the reason; other rows of the file are unaffected.

UTF-16 files (a BOM FF FE / FE FF) are refused by csv_rows with one Reject: save them as UTF-8.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator

from charset_normalizer import from_bytes

from converters.common import csv_rows as parsed_rows

SAMPLE = 1 << 18                                   # bytes of non-UTF-8 rows given to the detector
GB = {"gb18030", "gbk", "gb2312", "hz", "cp936"}
BIG5 = {"big5", "big5hkscs", "cp950"}
GARBLED = re.compile("[\ue000-\uf8ff\ufffd]")      # private use area, replacement character
CHINESE = re.compile("[\u4e00-\u9fff\u3000-\u303f\uff01-\uff60\uffe0-\uffe6]")  # ideographs, CJK and full-width
# punctuation and forms; not the half-width katakana (U+FF61-FF9F) a Japanese codec makes of GB18030 bytes


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def legacy_encoding(path: Path) -> str:
    """The codec for the file's non-UTF-8 lines (see the module docstring)."""
    sample = bytearray()
    with Path(path).open("rb") as fh:
        for line in fh:
            if not _is_utf8(line):
                sample += line
                if len(sample) >= SAMPLE:
                    break
    if not sample:
        return "gb18030"
    best = from_bytes(bytes(sample)).best()
    name = (best.encoding if best else "").lower().replace("-", "").replace("_", "")
    if name in GB:
        return "gb18030"
    # anything else is checked (a few short GBK rows can look like Big5 or Korean to the detector):
    # the codec under which the rows read as the most Chinese, wrong-codec marks counted against
    # it; ties go to gb18030, the encoding of the Chinese dialogue data
    other = [] if name in BIG5 or not best else [best.encoding]
    return max(["gb18030", "big5hkscs", *other], key=lambda codec: _chinese_score(bytes(sample), codec))


def _chinese_score(raw: bytes, codec: str) -> float:
    try:
        text = raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return float("-inf")
    return len(CHINESE.findall(text)) - 10 * len(GARBLED.findall(text))


def decode_row(fields: list[str], legacy: str) -> list[str] | str:
    """Fields parsed over latin-1 -> real text, or the reason the row cannot be trusted."""
    raw = [f.encode("latin-1") for f in fields]
    joined = b"\x00".join(raw)
    if _is_utf8(joined):
        texts = [r.decode("utf-8") for r in raw]
    else:
        try:
            texts = [r.decode(legacy) for r in raw]
        except UnicodeDecodeError:
            return f"undecodable row: neither UTF-8 nor {legacy}"
    bad = next((m.group() for t in texts for m in [GARBLED.search(t)] if m), None)
    if bad is not None:
        codec = "UTF-8" if _is_utf8(joined) else legacy
        return f"garbled row: decoded as {codec} it holds U+{ord(bad):04X} (a wrong or broken encoding)"
    if texts:
        texts[0] = texts[0].lstrip("\ufeff")  # a UTF-8 BOM before the first field of the file
    return texts


def preview(fields: list[str], legacy: str) -> str:
    """A row's fields joined by commas for a Reject's raw text, bad bytes shown as U+FFFD."""
    raw = ",".join(fields).encode("latin-1")
    return raw.decode("utf-8" if _is_utf8(raw) else legacy, errors="replace")[:200]


def csv_rows(path: Path) -> Iterator[tuple[int, list[str] | str]]:
    """(line the record starts on, fields as latin-1 text) per CSV record; a string is an error."""
    path = Path(path)
    with path.open("rb") as fh:
        if fh.read(2) in (b"\xff\xfe", b"\xfe\xff"):
            yield 1, "UTF-16 file: save it as UTF-8 (or GB18030) and convert again"
            return
    with path.open(encoding="latin-1", newline="") as fh:
        yield from parsed_rows(csv.reader(fh))
