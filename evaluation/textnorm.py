"""normalise(reply): the text the answer extractors and the refusal check read.

  * very long replies keep their first and last KEEP_CHARS characters (an answer is stated
    near the start or at the end; the regular expressions that read it then stay fast on 1 MB);
  * control characters other than newline and tab, zero-width spaces and the BOM are dropped;
  * full-width ASCII (U+FF01..U+FF5E) becomes ASCII: （Ｂ） -> (B), ： -> :, ， -> , (but 。、【】 stay);
  * markdown is removed: ** __ * ` emphasis, leading # headers, > quotes and list bullets
    ("- ", "* ", "+ ", "• "), so "**答案**：C" and "### Final Answer\\n**E**" read as plain text.
"""
from __future__ import annotations

import re
from typing import Optional

KEEP_CHARS = 8000  # characters kept from each end of a very long reply
_WIDTH = str.maketrans({**{chr(0xFF01 + i): chr(0x21 + i) for i in range(94)},  # ！..～ -> !..~
                        "　": " "})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_MARKDOWN_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+•][ \t]+)+", re.MULTILINE)
_EMPHASIS = re.compile(r"\*\*|__|\*|`")


def normalise(text: Optional[str]) -> str:
    text = text or ""
    if len(text) > 2 * KEEP_CHARS:
        text = text[:KEEP_CHARS] + "\n" + text[-KEEP_CHARS:]
    text = _CONTROL.sub("", text).translate(_WIDTH)
    text = _MARKDOWN_LINE.sub("", text)
    return _EMPHASIS.sub("", text).strip()
