"""The multi-turn consultation suite: items with several user turns, answered in order over HTTP.

An item (one JSON object per line of a JSONL file):
    {"id": "mt-001", "system": "(optional)",
     "turns": [{"user": "我头疼三天了怎么办？", "reference": "(optional) an answer to compare with"},
               {"user": "我今年八岁。", "reference": "..."}],
     "missing": ["age"]}            # optional: key facts the FIRST message leaves out
A target answers turn 1 of every item, then turn 2 with its own earlier answers in the
history, and so on: one round of requests per turn, the items of a round in parallel,
each answer cached as it arrives (evaluation/runner.py), so an interrupted run resumes.

Scores, per target:
  per turn     ROUGE-L F1 (characters) against the turn's reference where there is one, and
               the share of answers with all five section headers
  asks back    for items with `missing`: the share whose FIRST answer asks the patient a
               question about a missing fact (a question mark, and a question word on age,
               duration or severity: 多大/几岁/多久/几天/严重…, how old/how long/how severe…).
               A rule, so it is cheap and repeatable; it can miss a question phrased otherwise.
  consistent   with eval.judge set: the share of items whose final answer the judge finds
               consistent with the earlier turns (YES/NO); None without a judge
In `make eval` (evaluation/evaluate.py calls suite()): the items of eval.multiturn, every target
that answered the other suites (gateway -rag targets included: the gateway retrieves for a follow-up
with the conversation), answers cached with the others; EvalResults.multiturn and a report section
(evaluation/report_multiturn.py). Without eval.multiturn the suite is skipped with a note.
Bad input: a line that is not an object with an `id` and a non-empty list of turns, each
with a non-empty `user` string, is an error naming the file and line.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Optional

from core.errors import StageFailed
from evaluation.judge import SYSTEM as JUDGE_SYSTEM, read_verdict
from evaluation.metrics import five_sections, mean
from evaluation.overlap import rouge
from evaluation.runner import Request, Runner, Target

FACT_WORDS = {  # a question about one missing fact names one of these
    "age": ("多大", "几岁", "年龄", "岁数", "how old", "age"),
    "duration": ("多久", "多长时间", "几天", "什么时候开始", "持续", "how long", "since when", "when did"),
    "severity": ("严重", "程度", "多高", "几度", "疼得", "how severe", "how bad", "how high", "scale"),
}
QUESTION = re.compile(r"[？?]")
CONSISTENCY = ("Conversation between a patient and a medical assistant:\n{history}\n\nFinal reply of the "
               "assistant:\n{reply}\n\nIs the final reply consistent with what the patient said and with the "
               "assistant's earlier replies (no contradiction, it uses the facts given)? Answer with one word: YES or NO.")


def load(path: Path) -> list[dict]:
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise StageFailed(f"eval.multiturn: {where}: not JSON ({exc})", 2) from None
        turns = item.get("turns") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not str(item.get("id") or "").strip() or not isinstance(turns, list) \
                or not turns:
            raise StageFailed(f"eval.multiturn: {where}: a multi-turn item needs an 'id' and a non-empty list "
                              f"'turns'", 2)
        for k, turn in enumerate(turns, start=1):
            if not isinstance(turn, dict) or not isinstance(turn.get("user"), str) or not turn["user"].strip():
                raise StageFailed(f"eval.multiturn: {where}: turn {k} needs a non-empty 'user' string", 2)
        unknown = set(item.get("missing") or []) - set(FACT_WORDS)
        if unknown:
            raise StageFailed(f"eval.multiturn: {where}: 'missing' may list {', '.join(FACT_WORDS)}; "
                              f"not {sorted(unknown)}", 2)
        items.append(item)
    return items


def conversation(item: dict, answers: list[str], upto: int) -> list[dict]:
    """The messages for turn `upto` (0-based): earlier turns with the target's own answers."""
    messages = [{"role": "system", "content": item["system"]}] if item.get("system") else []
    for k in range(upto):
        messages += [{"role": "user", "content": item["turns"][k]["user"]},
                     {"role": "assistant", "content": answers[k]}]
    return messages + [{"role": "user", "content": item["turns"][upto]["user"]}]


def answer_all(runner: Runner, targets: list[Target],
               items: list[dict]) -> dict[str, tuple[dict[str, list[str]], Optional[str]]]:
    """Per target: {item id: answers in turn order} (an item stops at its first failed turn) and why the
    target went down. Turn by turn, every target at once (runner.run_each)."""
    answers = {t.name: {item["id"]: [] for item in items} for t in targets}
    down: dict[str, Optional[str]] = {t.name: None for t in targets}
    for turn in range(max(len(item["turns"]) for item in items)):
        due = {t.name: [item for item in items if len(item["turns"]) > turn
                        and len(answers[t.name][item["id"]]) == turn] for t in targets if down[t.name] is None}
        jobs = [(t, [Request(item["id"], f"turn{turn + 1}", conversation(item, answers[t.name][item["id"]], turn))
                     for item in due[t.name]]) for t in targets if due.get(t.name)]
        if not jobs:
            break
        for (target, _), outcome in zip(jobs, runner.run_each(jobs)):
            for item in due[target.name]:
                record = outcome.responses.get((item["id"], f"turn{turn + 1}"))
                if record is not None:
                    answers[target.name][item["id"]].append(record.get("text") or "")
            down[target.name] = outcome.down
    return {name: (answers[name], down[name]) for name in answers}


def asks_back(answer: str, missing: list[str]) -> bool:
    """Whether `answer` asks the patient about one of the `missing` facts."""
    text = answer.lower()
    return bool(QUESTION.search(text)) and any(w in text for fact in missing for w in FACT_WORDS[fact])


def score(items: list[dict], answers: dict[str, list[str]], tokenizer: str = "char") -> dict:
    turns = max(len(item["turns"]) for item in items)
    per_turn = []
    for k in range(turns):
        rouge_l, formatted = [], []
        for item in items:
            got = answers[item["id"]]
            if k >= len(got):
                continue
            formatted.append(five_sections(got[k])[0])
            reference = (item["turns"][k].get("reference") or "").strip()
            if reference:
                rouge_l.append(rouge(reference, got[k], tokenizer)["rougeL"])
        per_turn.append({"turn": k + 1, "answered": len(formatted), "rouge_l": mean(rouge_l),
                         "five_sections": mean(formatted)})
    lacking = [item for item in items if item.get("missing") and answers[item["id"]]]
    return {"items": len(items), "complete": sum(len(answers[i["id"]]) == len(i["turns"]) for i in items),
            "per_turn": per_turn,
            "asks_back": mean([asks_back(answers[i["id"]][0], i["missing"]) for i in lacking]),
            "asks_back_items": len(lacking), "consistent": None}


def consistency_requests(target: str, items: list[dict], answers: dict[str, list[str]]) -> list[Request]:
    """Judge requests for items answered to the end with more than one turn."""
    out = []
    for item in items:
        got = answers[item["id"]]
        if len(item["turns"]) < 2 or len(got) < len(item["turns"]):
            continue
        history = "\n".join(f"Patient: {t['user']}\nAssistant: {a}" for t, a in zip(item["turns"][:-1], got[:-1]))
        history += f"\nPatient: {item['turns'][-1]['user']}"
        prompt = CONSISTENCY.replace("{history}", history).replace("{reply}", got[-1])
        out.append(Request(f"{target}/{item['id']}", "consistent",
                           [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt}]))
    return out


def judged_share(outcome_texts: list[str]) -> Optional[float]:
    verdicts = [v for v in (read_verdict(t) for t in outcome_texts) if v is not None]
    return sum(verdicts) / len(verdicts) if verdicts else None


def judge_consistency(section, cache_dir: Path, default_url: str, items: list[dict],
                      answered: dict[str, dict[str, list[str]]]) -> dict:
    """{"model", "base_url", "status", "error", "planned", "answered", "targets": {target: (share, n)}}, judged
    by eval.judge (`section` is the eval section) with temperature 0, cached in `cache_dir`."""
    judge = section.judge
    url = (judge.base_url or default_url).rstrip("/")
    info = {"model": judge.model, "base_url": url, "status": "ok", "error": None, "targets": {}}
    requests = [r for name, answers in answered.items() for r in consistency_requests(name, items, answers)]
    info.update(planned=len(requests), answered=0)
    if not requests:
        return {**info, "status": "nothing to judge"}
    key = os.environ.get(judge.api_key_env) if judge.api_key_env else None
    runner = Runner(cache_dir, concurrency=section.concurrency, timeout_s=section.timeout_s, retries=section.retries,
                    max_tokens=judge.max_tokens, temperature=0.0, seed=section.seed, progress=False)
    outcome = runner.run(Target("judge", judge.model, url, key), requests)
    texts: dict[str, list[str]] = {}
    for (request_id, _), record in outcome.responses.items():
        texts.setdefault(request_id.split("/", 1)[0], []).append(record.get("text") or "")
    info["answered"] = len(outcome.responses)
    for name, replies in texts.items():
        info["targets"][name] = (judged_share(replies), sum(read_verdict(t) is not None for t in replies))
    if outcome.down or outcome.failures:
        info.update(status="partial" if outcome.responses else "unavailable",
                    error=outcome.down or f"{len(outcome.failures)} judge request(s) failed")
    return info


def suite(path: Path, section, targets: list[Target], runner: Runner, cache_dir: Path, default_url: str) -> dict:
    """EvalResults.multiturn: {"file", "items", "targets": {name: score() + model, status}, "judge"}.
    A target that goes down keeps what it answered (status says why); a judge that fails leaves a status."""
    items = load(path)
    out = {"file": str(path), "items": len(items), "targets": {}, "judge": None}
    answered: dict[str, dict[str, list[str]]] = {}
    for target in targets:
        print(f"   -- multiturn: {target.name}: {len(items)} consultations, "
              f"{sum(len(i['turns']) for i in items)} turns", flush=True)
    found = answer_all(runner, targets, items)
    for target in targets:
        answers, down = found[target.name]
        out["targets"][target.name] = {"model": target.model, "status": "failed" if down else "ok", "error": down,
                                       **score(items, answers, section.rouge_tokenizer)}
        answered[target.name] = answers
    if section.judge is not None:
        try:
            found = judge_consistency(section, cache_dir, default_url, items, answered)
        except Exception as exc:  # the report must not depend on the judge
            found = {"model": section.judge.model, "status": "unavailable", "error": f"{type(exc).__name__}: {exc}",
                     "targets": {}}
        for name, (share, n) in found.pop("targets").items():
            out["targets"][name].update(consistent=share, consistent_n=n)
        out["judge"] = found
    return out
