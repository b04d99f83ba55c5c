"""normalise(reply): the text the answer extractors and the refusal check read.

  * a reasoning block is not the reply: only the text after the last closing tag counts
    (</think>, </thinking>, </reasoning>; also when the opening tag is missing, as reasoning
    models whose chat template opens the block write it), and after HuatuoGPT-o1's
    "## Final Response" header when the reply opens with "## Thinking". A reply cut off inside
    its reasoning (an opening tag or "## Thinking" and no end) has no reply text: "";
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
# the tags reasoning models put around their reasoning: <think>…</think> and its variants
_REASONING_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)
_REASONING_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)
# HuatuoGPT-o1: "## Thinking\n…\n\n## Final Response\n…"
_THINKING_HEADER = re.compile(r"\A\s*#{1,6}[ \t]*Thinking[ \t]*$", re.IGNORECASE | re.MULTILINE)
_FINAL_HEADER = re.compile(r"^[ \t]*#{1,6}[ \t]*Final[ \t]+Response[ \t]*$", re.IGNORECASE | re.MULTILINE)


def _reply_part(text: str) -> str:
    """The text after the reasoning block; "" for a reply cut off inside it."""
    close = None
    for close in _REASONING_CLOSE.finditer(text):
        pass
    if close:
        return text[close.end():]
    opening = _REASONING_OPEN.search(text)
    if opening:
        return text[:opening.start()]
    if _THINKING_HEADER.match(text):
        final = None
        for final in _FINAL_HEADER.finditer(text):
            pass
        return text[final.end():] if final else ""
    return text


def normalise(text: Optional[str]) -> str:
    text = _reply_part(text or "")
    if len(text) > 2 * KEEP_CHARS:
        text = text[:KEEP_CHARS] + "\n" + text[-KEEP_CHARS:]
    text = _CONTROL.sub("", text).translate(_WIDTH)
    text = _MARKDOWN_LINE.sub("", text)
    return _EMPHASIS.sub("", text).strip()
