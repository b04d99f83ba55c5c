"""Model-assisted five-section restructuring: a model sorts the answer's own sentences, nothing more.

`five_section.method: llm` in a recipe. The answer is cut into the same units as the rules use
(whole sentences, a numbered list with its lead-in, a condition-only sentence with the next one;
five_section.units_of). The model, behind any
OpenAI-compatible endpoint (the served base model, vLLM, a hosted API), sees them numbered
and replies with a JSON object that maps each number to a section name:

    {"1": "病情分析", "2": "指导建议", "3": "药物说明", ...}

It never writes answer text. The reply is checked (parse_assignment): a JSON object, every
unit number exactly once, every value one of the five sections. The answer is then assembled
from the original units only (five_section.assemble), so no text outside the original can
enter it; placeholders fill empty sections as with the rules. An invalid reply, a timeout or
an unreachable endpoint falls back to the rules for that answer, and the report says so
("method": "rules-fallback", with the reason); the data report counts fallbacks.

Cost: one chat completion per answer (about 40 + 20 x units prompt tokens, a few output tokens
per unit), `concurrency` requests in flight.
"""
from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from converters.prep import five_section
from converters.prep.five_section import SECTIONS

INSTRUCTION = ("下面是一段医生回答，已按顺序切成编号的片段。请把每个片段归入以下五类之一："
               "病情分析、指导建议、药物说明、风险提示、免责声明。不要改写、增删任何文字。"
               "只输出一个 JSON 对象，键是片段编号，值是类别名，例如 {\"1\": \"病情分析\", \"2\": \"指导建议\"}。")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def prompt(units: list[str]) -> str:
    return INSTRUCTION + "\n\n" + "\n".join(f"{n}. {unit}" for n, unit in enumerate(units, start=1))


def parse_assignment(reply: str | None, count: int) -> list[str] | str:
    """The section of each of `count` units from the model's reply, or why the reply is unusable."""
    text = _FENCE.sub("", (reply or "").strip())
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        match = re.search(r"\{.*\}", text, re.S)  # a JSON object inside some chatter
        try:
            obj = json.loads(match.group()) if match else None
        except json.JSONDecodeError:
            obj = None
    if not isinstance(obj, dict):
        return "reply is not a JSON object"
    keys = {str(k).strip() for k in obj}
    expected = {str(n) for n in range(1, count + 1)}
    if keys != expected:
        missing, extra = sorted(expected - keys, key=int), sorted(keys - expected)
        return f"reply does not number every unit once (missing {missing[:5]}, unknown {extra[:5]})"
    sections = [str(obj.get(str(n), obj.get(n))).strip("【】 ") for n in range(1, count + 1)]
    bad = next((s for s in sections if s not in SECTIONS), None)
    if bad is not None:
        return f"reply names an unknown section {bad!r}"
    return sections


class Assigner:
    """A chat client for one endpoint; assign() gives each answer's sections or a fallback reason."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, timeout_s: float = 60.0):
        from openai import OpenAI  # only this mode needs the client
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get(api_key_env or "", "") or "EMPTY",
                             timeout=timeout_s, max_retries=0)
        self.model = model

    def assign(self, units: list[str]) -> list[str] | str:
        try:
            reply = self.client.chat.completions.create(
                model=self.model, temperature=0.0, max_tokens=16 * len(units) + 32,
                messages=[{"role": "user", "content": prompt(units)}])
        except Exception as exc:  # noqa: BLE001 -- any failure of the endpoint means: use the rules
            return f"endpoint failed: {type(exc).__name__}"
        return parse_assignment(reply.choices[0].message.content, len(units))


def restructure(answer: str, assigner: Assigner, placeholders: dict[str, str] | None = None) -> tuple[str, dict]:
    """(five-section text, report) with the model's assignment, or the rules' when it is unusable."""
    if five_section.has_headers(answer):  # the author's own headers: kept, the rules sort the rest
        text, report = five_section.restructure(answer, placeholders)
        return text, {**report, "method": "rules"}
    units, dropped = five_section.units_of(answer)
    sections = assigner.assign(units) if units else "no text"
    if isinstance(sections, str):
        text, report = five_section.restructure(answer, placeholders)
        return text, {**report, "method": "rules-fallback", "fallback": sections}
    text, report = five_section.assemble(list(zip(sections, units)), dropped, placeholders)
    return text, {**report, "method": "llm"}


def restructure_all(answers: Iterable[str], settings, placeholders: dict[str, str] | None = None,
                    concurrency: int = 8) -> list[tuple[str, dict]]:
    """restructure() over many answers, `concurrency` requests at a time, results in input order."""
    assigner = Assigner(settings.base_url, settings.model, settings.api_key_env, settings.timeout_s)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda a: restructure(a, assigner, placeholders), answers))
