"""Multi-turn conversations -> one training example that keeps every round.

The conversation formats (sharegpt, huatuo-conversation) normalise their turns to
[(role, text)] with role "system" | "human" | "gpt" and hand them to rounds(), the one place
that decides what a well-formed conversation is: an optional system turn first, then human
and gpt turns alternating, starting with human and ending with gpt, none of them empty.

Why alpaca columns with `history` rather than LLaMA-Factory's sharegpt layout: every other
source becomes alpaca rows, so one file per split and one dataset_info entry hold them all;
dedupe, the five-section step (the final answer), the refusal and noise steps and the
evaluation items all work on (instruction, output) already. LLaMA-Factory turns `history`
into the same message list as a sharegpt file, and computes the loss on every answer, the
earlier rounds included, so nothing of the conversation is lost for training.

rounds(turns) -> Conversation | reason, where the reason is what the reject says:
    "empty conversation: ..."    no turns, or only a system turn
    "empty turn: turn N ..."     a turn without text
    "misplaced system turn: ..." a system turn after the first
    "not alternating: ..."       two turns of one side in a row, or the assistant speaking first
    "last turn not from gpt: ..." the conversation ends on the patient / user
Turn numbers count from 1 and include the system turn, as the source shows them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Conversation:
    system: str
    history: list[list[str]]   # earlier [question, answer] rounds, oldest first
    question: str              # the last human turn
    answer: str                # the final gpt turn


def rounds(turns: list[tuple[str, str]], system: str = "") -> Conversation | str:
    if not turns:
        return "empty conversation: no turns"
    offset = 0
    if turns[0][0] == "system":
        system, turns, offset = turns[0][1].strip(), turns[1:], 1
    if not turns:
        return "empty conversation: only a system turn"
    for n, (role, text) in enumerate(turns):
        expected = "human" if n % 2 == 0 else "gpt"
        if role == "system":
            return f"misplaced system turn: turn {n + 1 + offset}"
        if not text.strip():
            return f"empty turn: turn {n + 1 + offset} ({role}) has no text"
        if role != expected:
            return f"not alternating: turn {n + 1 + offset} is from {role}, expected {expected}"
    if turns[-1][0] != "gpt":
        return f"last turn not from gpt: turn {len(turns) + offset} is from human"
    texts = [text.strip() for _, text in turns]
    history = [[texts[i], texts[i + 1]] for i in range(0, len(texts) - 2, 2)]
    return Conversation(system=system, history=history, question=texts[-2], answer=texts[-1])
