"""ShareGPT conversations, kept multi-turn: alpaca columns with a history (converters/turns.py says why).

A JSON array (streamed; "line" = 1-based item index) or JSONL of
    {"conversations": [{"from": "system"|"human"|"gpt", "value": "..."}, ...], "system"?: "..."}
or the OpenAI layout {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}]}.
("user"/"assistant" are accepted as "from" values too.) A valid conversation is an optional
system turn first, then human/gpt turns alternating, starting with human, ending with gpt:
    instruction  the last human turn          output  the final gpt turn
    system       the system turn, else the item's "system" string, else ""
    meta         {"history": [[human, gpt], ...]} for the earlier rounds (oldest first), as
                 LLaMA-Factory's alpaca `history` column expects; [] for one round
Turn texts are stripped. Rejects: bad JSON, missing or empty conversation, a turn that is
not {from, value} / {role, content} with a string ("bad turn"), an empty text ("empty turn"),
a tool-call conversation (a function_call, observation or tool turn, or a gpt turn written as a
ReAct "Action: ... Action Input: ..." call, as in MedicalGPT's tool samples: "tool call") -- kept,
its calls would train the model to call tools it is never given the definitions of -- any other
unknown role ("unsupported role"), a system turn after the first
("misplaced system turn"), two turns of one side in a row or a gpt turn first ("not
alternating"), and a conversation that ends on a human turn ("last turn not from gpt"); the
checks of the turn sequence are converters/turns.py's, shared with huatuo-conversation.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from converters.common import Example, Reject, convert_records, read_json_records, text_field
from converters.turns import rounds

ROLES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt", "system": "system"}
TOOL_ROLES = {"function_call", "function", "observation", "tool", "tool_call", "tool_calls"}
_REACT_CALL = re.compile(r"^\s*Action\s*:.*\n\s*Action Input\s*:", re.M)
TOOL_CALL = ("tool call: turn {n} ({what}); tool-call conversations are not converted (their tool definitions are "
             "not part of the alpaca rows, so the model would learn calls to tools it is never shown)")


def _turns(obj: dict) -> list[tuple[str, str]] | str:
    """[(role, text)] with roles normalised to human/gpt/system; a string is the reject reason."""
    turns = obj.get("conversations", obj.get("messages"))
    if not isinstance(turns, list) or not turns:
        return "missing or empty 'conversations'"
    result = []
    for n, turn in enumerate(turns, start=1):
        role_key, text_key = ("from", "value") if isinstance(turn, dict) and "from" in turn else ("role", "content")
        if not isinstance(turn, dict) or not isinstance(turn.get(role_key), str) \
                or not isinstance(turn.get(text_key), str):
            return f"bad turn: turn {n} is not a {{from, value}} or {{role, content}} object with strings"
        role = ROLES.get(turn[role_key].strip().lower())
        if turn[role_key].strip().lower() in TOOL_ROLES or (role == "gpt" and _REACT_CALL.search(turn[text_key])):
            return TOOL_CALL.format(n=n, what=f"from {turn[role_key]!r}" if role is None else "an Action: call")
        if role is None:
            return f"unsupported role: turn {n} is from {turn[role_key]!r}"
        if not turn[text_key].strip():
            return f"empty turn: turn {n} ({role}) has no text"
        result.append((role, turn[text_key].strip()))
    return result


def _convert(obj: dict, where: str) -> Example | str:
    turns = _turns(obj)
    if isinstance(turns, str):
        return turns
    found = rounds(turns, text_field(obj, "system") or "")
    if isinstance(found, str):
        return found
    return Example(instruction=found.question, output=found.answer, system=found.system, source=where,
                   meta={"history": found.history})


def read(path: Path) -> Iterator[Example | Reject]:
    path = Path(path)
    yield from convert_records(path, read_json_records(path), _convert)
