"""The retrieval query of a -rag request in a conversation (rag.retrieval.follow_up).

A follow-up such as "那孩子可以吃吗？" after a question about 布洛芬 names neither the drug nor
the topic, so searching with the last user turn alone finds nothing useful. Three ways:
  last    the last user turn only (one-shot questions)
  rules   the last user turn, preceded by up to two earlier user turns when it looks like a
          follow-up: very short (at most SHORT_CHARS characters: "孩子呢？", "孕妇能吃吗？"),
          ending in 呢, naming it/它, or opening with a referring word (那/这/该/还…,
          it/this/what about…). A heuristic: free, deterministic, no model call; a short
          standalone question such as "感冒是什么引起的？" (9 characters) is left alone.
  model   the served model rewrites the last user turn into a standalone question from the
          conversation (greedy, at most 64 tokens); on any failure or an empty answer the
          rules' query is used instead, so retrieval never fails because of the rewrite.
The prompt the model answers keeps the user's own words: only the search query changes.
"""
from __future__ import annotations

import re

SHORT_CHARS = 8          # a turn this short (a few Chinese words) rarely stands on its own
EARLIER_TURNS = 2        # earlier user turns joined before a follow-up
MAX_QUERY_CHARS = 400    # the query stays a query, not the whole conversation
REFERRING = re.compile(
    r"^\s*(那|那么|这|这个|这种|那个|他|她|该|此|上述|还|也|如果|要是|然后|另外)|它|呢\s*[？?]?\s*$"
    r"|^\s*(and|but|what about|how about|it|its|this|that|these|those|they|them|he|she|also)\b"
    r"|\b(it|them)\b",
    re.IGNORECASE)
REWRITE_INSTRUCTION = ("请根据上面的对话，把用户的最后一个问题改写成一个不依赖上文、意思完整的问题，"
                       "用于检索资料。只输出改写后的问题，不要回答它。")


def is_follow_up(turn: str) -> bool:
    return len(turn) <= SHORT_CHARS or bool(REFERRING.search(turn))


def rules_query(user_turns: list[str]) -> str:
    """The last user turn, with up to EARLIER_TURNS earlier ones before it when it is a follow-up."""
    last = user_turns[-1].strip()
    earlier = [t.strip() for t in user_turns[:-1] if t.strip()][-EARLIER_TURNS:]
    if not earlier or not is_follow_up(last):
        return last
    context = " ".join(earlier)[-max(0, MAX_QUERY_CHARS - len(last) - 1):]
    return f"{context} {last}".strip()


def rewrite_messages(turns: list[tuple[str, str]]) -> list[dict]:
    """The chat that asks the model for a standalone question; turns are (role, text)."""
    names = {"user": "用户", "assistant": "助手"}
    lines = [f"{names[role]}：{' '.join(text.split())}" for role, text in turns if role in names and text.strip()]
    return [{"role": "user", "content": "\n".join(lines) + "\n\n" + REWRITE_INSTRUCTION}]


def rewritten_query(answer: str) -> str:
    """The first non-empty line of the model's answer, cut to MAX_QUERY_CHARS; '' if none."""
    line = next((ln.strip() for ln in answer.splitlines() if ln.strip()), "")
    return line.removeprefix("用户：").strip()[:MAX_QUERY_CHARS]
