"""Text hygiene: markup/width/whitespace cleanup, PII scrubbing, length filter.

clean_text(text) applies, in this order:
  1. HTML: comments and <script>/<style> blocks are dropped with their content;
     tags from a fixed list of common HTML element names are removed; a run of
     block tags (br p div li tr h1-h6 ..., e.g. "</p><p>") becomes one newline. Only known tag names are
     touched, so medical text such as "血压<140/90" or "<5mm" survives.
  2. Entities: html.unescape, after the tags are gone. Escaped markup
     ("&lt;b&gt;") therefore stays as literal text: it was content, not markup.
  3. Line ends: \r\n and \r become \n; U+2028/U+2029 become \n.
  4. Control characters (Unicode Cc) are removed except \n and \t; so are the
     invisible format characters U+00AD, U+200B-U+200D, U+2060, U+FEFF.
  5. Width: U+FF01-U+FF5E (full-width ASCII) map to U+0021-U+007E by
     subtracting 0xFEE0, EXCEPT the Chinese punctuation kept as is:
     ！（），：；？ (U+FF01 U+FF08 U+FF09 U+FF0C U+FF1A U+FF1B U+FF1F).
     。、“”‘’《》【】 lie outside that range and are never touched.
     U+3000 (ideographic space) and the other Unicode space separators (Zs,
     e.g. the U+00A0 that &nbsp; unescapes to) become a normal space.
  6. Whitespace: runs of spaces/tabs become one space, each line is stripped,
     3+ consecutive newlines become 2 (one blank line), the text is stripped.

scrub_pii(text) replaces, in this order (earlier kinds win on overlaps):
  邮箱     e-mail addresses                                    -> [邮箱]
  身份证号 17 digits + digit/X (18-character resident ID)       -> [身份证号]
  手机号   1[3-9]x xxxx xxxx, optional +86 / 0086 / 86 prefix,
           optionally split 3-4-4 by spaces or dashes          -> [手机号]
  电话     0 + 2-3 digit area code, optional dash or (区号),
           7-8 digit number                                   -> [电话]
  Every numeric pattern requires that it is not glued to other digits (or a
  decimal point before it): "订单号202312345678901234567" is left alone.
  ID-card choice: an 18-character candidate is replaced when its ISO 7064
  MOD 11-2 check character is valid OR its birth date (characters 7-14) is a
  real calendar date in 1900-2099. A single mistyped digit breaks the checksum
  but leaves the date, and it is still somebody's ID, so either signal is
  enough; an 18-digit number with neither (order numbers, barcodes) is kept.
  15-digit first-generation IDs are not recognised (too close to other numbers).
  Counts come back for all four kinds: {"mobile", "landline", "id_card", "email"}.

length_ok(text, min_chars, max_chars) counts the characters of text.strip().
"""
from __future__ import annotations

import datetime
import html
import re

# --- clean_text --------------------------------------------------------------

_BLOCK_TAGS = "br|p|div|li|ul|ol|tr|table|h[1-6]|blockquote|pre|hr|dd|dt|dl|section|article"
_INLINE_TAGS = ("a|abbr|b|big|body|center|code|em|font|head|html|i|img|s|small|span|strong|"
                "sub|sup|tbody|td|th|thead|title|tt|u|label|meta|link")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_BLOCK = re.compile(rf"(?:[ \t]*</?(?:{_BLOCK_TAGS})\b[^<>]*>[ \t]*)+", re.I)  # a run of them: one \n
_INLINE = re.compile(rf"</?(?:{_INLINE_TAGS})\b[^<>]*>", re.I)

KEPT_FULLWIDTH = "！（），：；？"


def _build_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in range(0xFF01, 0xFF5F):
        if chr(code) not in KEPT_FULLWIDTH:
            table[code] = chr(code - 0xFEE0)
    for code in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0)):
        if chr(code) not in "\n\t":
            table[code] = None
    for code in (0x00AD, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF):
        table[code] = None
    for code in (0x2028, 0x2029):
        table[code] = "\n"
    # Zs: U+0020 itself, U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F, U+3000
    for code in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000):
        table[code] = " "
    return table


_TABLE = _build_table()
_SPACES = re.compile(r"[ \t]+")
_LINE_EDGES = re.compile(r" *\n *")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Cleaned copy of `text` (see the module docstring for the exact rules)."""
    text = _COMMENT.sub("", text)
    text = _SCRIPT.sub("", text)
    text = _BLOCK.sub("\n", text)
    text = _INLINE.sub("", text)
    text = html.unescape(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_TABLE)
    text = _SPACES.sub(" ", text)        # tabs count as spaces here: the line is one run
    text = _LINE_EDGES.sub("\n", text)   # strips every line (spaces are single by now)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


# --- scrub_pii ---------------------------------------------------------------

PLACEHOLDERS = {"email": "[邮箱]", "id_card": "[身份证号]", "mobile": "[手机号]", "landline": "[电话]"}

_NOT_AFTER = r"(?<![\d.])"   # not glued to a digit or a decimal point before it
_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])",
                    re.ASCII)
_ID_CARD = re.compile(_NOT_AFTER + r"\d{6}(\d{8})\d{3}[\dXx](?![\dXx])")
_MOBILE = re.compile(_NOT_AFTER + r"(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
_LANDLINE = re.compile(_NOT_AFTER + r"(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3}-?)\d{7,8}(?!\d)")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"   # ISO 7064 MOD 11-2: remainder -> check character


def id_checksum_ok(number: str) -> bool:
    """True when the 18th character is the ISO 7064 MOD 11-2 check of the first 17."""
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def _plausible_birth_date(yyyymmdd: str) -> bool:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])
    if not 1900 <= year <= 2099:
        return False
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def scrub_pii(text: str) -> tuple[str, dict[str, int]]:
    """Replace e-mails, ID numbers, mobiles and landlines; return (text, counts per kind)."""
    counts = {kind: 0 for kind in PLACEHOLDERS}

    def replace(kind: str):
        def _sub(match: re.Match) -> str:
            counts[kind] += 1
            return PLACEHOLDERS[kind]
        return _sub

    def replace_id(match: re.Match) -> str:
        if id_checksum_ok(match.group(0)) or _plausible_birth_date(match.group(1)):
            counts["id_card"] += 1
            return PLACEHOLDERS["id_card"]
        return match.group(0)

    text = _EMAIL.sub(replace("email"), text)
    text = _ID_CARD.sub(replace_id, text)
    text = _MOBILE.sub(replace("mobile"), text)
    text = _LANDLINE.sub(replace("landline"), text)
    return text, counts


# --- length_ok ---------------------------------------------------------------

def length_ok(text: str, min_chars: int | None = None, max_chars: int | None = None) -> str | None:
    """None when len(text.strip()) is within [min_chars, max_chars], else a reject reason.

    Either bound may be None (no limit). Characters, not tokens: for Chinese one
    character is roughly one token, which is what this coarse filter is for.
    """
    if min_chars is not None and max_chars is not None and min_chars > max_chars:
        raise ValueError(f"min_chars ({min_chars}) > max_chars ({max_chars})")
    n = len(text.strip())
    if min_chars is not None and n < min_chars:
        return f"too short: {n} < {min_chars} characters"
    if max_chars is not None and n > max_chars:
        return f"too long: {n} > {max_chars} characters"
    return None
