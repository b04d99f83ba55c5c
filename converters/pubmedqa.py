"""PubMedQA (pubmedqa/pubmedqa `data/ori_pqal.json`; ori_pqaa.json has the same shape).

The file is ONE JSON object keyed by PMID (read member by member, not loaded whole):
    {"21645374": {"QUESTION": "...?", "CONTEXTS": ["...", ...], "LABELS": ["BACKGROUND", ...],
                  "MESHES": ["Humans", ...], "YEAR": "2011", "final_decision": "yes",
                  "LONG_ANSWER": "...", "reasoning_required_pred": ..., ...}, ...}
Each valid PMID yields an Example and then a Document:
    Example   instruction  "Context 1 (BACKGROUND): ..." one line per context (the label only
                           when LABELS aligns with CONTEXTS), "Question: ...", then ASK
              output       "<final_decision>. <LONG_ANSWER>" ("yes." without a long answer)
              meta         {"question", "answer": "yes"|"no"|"maybe", "subject": the topic MeSH
                            term (subject_of_meshes) or None, "pmid"}
    Document  title = the question, text = the contexts joined by newlines,
              metadata {"pmid", "year", "meshes"}
"line" is the file line of the PMID key. Rejects: bad JSON (the rest of the file is
skipped), a value that is not an object, missing QUESTION or CONTEXTS (or a non-string
context), final_decision not yes/no/maybe (ori_pqau.json has none, so it is all rejected).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

from converters.common import Document, Example, Reject, convert_records, text_field

# MeSH check tags (age groups, sex, species, pregnancy) and study-design/statistics descriptors:
# they are attached to most articles (alphabetically first in MESHES), so they say nothing of the topic.
NOT_TOPICS = frozenset(t.lower() for t in (
    "Humans", "Animals", "Male", "Female", "Pregnancy", "Adult", "Aged", "Aged, 80 and over", "Middle Aged",
    "Young Adult", "Adolescent", "Child", "Child, Preschool", "Infant", "Infant, Newborn", "Mice", "Rats",
    "Dogs", "Cats", "Cattle", "Swine", "Sheep", "Horses", "Rabbits", "Guinea Pigs", "Cricetinae", "Chick Embryo",
    "Retrospective Studies", "Prospective Studies", "Follow-Up Studies", "Cohort Studies", "Cross-Sectional Studies",
    "Case-Control Studies", "Longitudinal Studies", "Time Factors", "Risk Factors", "Risk Assessment",
    "Treatment Outcome", "Prognosis", "Incidence", "Prevalence", "Age Factors", "Sex Factors", "Age Distribution",
    "Sex Distribution", "Questionnaires", "Surveys and Questionnaires", "Reproducibility of Results",
    "Sensitivity and Specificity", "Severity of Illness Index", "Statistics as Topic", "Logistic Models",
    "Multivariate Analysis", "Regression Analysis", "Odds Ratio", "Predictive Value of Tests", "Pilot Projects",
    "Length of Stay", "Comorbidity", "Socioeconomic Factors", "Cohort Analysis"))
STEM = 5  # characters of a word compared with the question ("readmissions" ~ "readmission")


def subject_of_meshes(meshes: list[str], question: str) -> str | None:
    """The topic term: the MeSH heading (qualifier after "/" and "*" dropped) that is not a check tag
    or study-design term, preferring the one sharing most words with the question, then the one with
    more words (multi-word headings are usually deeper in the MeSH tree), then list order. Without
    the MeSH tree this is a heuristic; None when only check tags are left."""
    asked = {w[:STEM] for w in re.findall(r"[a-z0-9]+", question.lower()) if len(w) > 2}
    best, best_key = None, None
    for index, raw in enumerate(meshes):
        term = raw.split("/")[0].replace("*", "").strip()
        if not term or term.lower() in NOT_TOPICS:
            continue
        words = re.findall(r"[a-z0-9]+", term.lower())
        key = (sum(w[:STEM] in asked for w in words if len(w) > 2), len(words), -index)
        if best_key is None or key > best_key:
            best, best_key = term, key
    return best


ASK = "Answer the question with yes, no or maybe, then explain briefly."
DECISIONS = ("yes", "no", "maybe")
CHUNK = 1 << 20
BLANK = re.compile(r"[\ufeff \t\r\n]*")


class _Cursor:
    """A sliding text buffer that knows the line number of its read position."""

    def __init__(self, fh):
        self.fh, self.buf, self.pos, self.line = fh, "", 0, 1
        self.decoder = json.JSONDecoder()

    def _more(self) -> bool:
        chunk = self.fh.read(CHUNK)
        if chunk:
            self.buf, self.pos = self.buf[self.pos:] + chunk, 0
        return bool(chunk)

    def advance(self, end: int) -> None:
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def peek(self) -> str:
        """The next non-blank character ("" at the end of the file), positioned on it."""
        while True:
            self.advance(BLANK.match(self.buf, self.pos).end())
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def value(self):
        self.peek()  # raw_decode does not skip leading blanks
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if self._more():  # perhaps only cut by the buffer's end
                    continue
                raise
            if end == len(self.buf) and self._more():  # a number may go on in the next chunk
                continue
            self.advance(end)
            return obj


def _members(path: Path) -> Iterator[tuple[int, dict | Reject]]:
    """(line of the key, {key: value}) per member of the top-level object; Rejects end the file."""
    with path.open(encoding="utf-8") as fh:
        cur = _Cursor(fh)
        try:
            if cur.peek() != "{":
                yield 0, Reject(str(path), 0, "bad JSON: top level is not an object keyed by PMID")
                return
            cur.advance(cur.pos + 1)
            while cur.peek() != "}":
                line = cur.line
                key = cur.value()
                if not isinstance(key, str) or cur.peek() != ":":
                    raise json.JSONDecodeError("expected a PMID key and ':'", cur.buf, cur.pos)
                cur.advance(cur.pos + 1)
                yield line, {key: cur.value()}
                if cur.peek() == ",":
                    cur.advance(cur.pos + 1)
                elif cur.peek() != "}":
                    raise json.JSONDecodeError("expected ',' or '}'", cur.buf, cur.pos)
        except json.JSONDecodeError as exc:
            yield cur.line, Reject(str(path), cur.line, f"bad JSON: {exc.msg} (rest of file skipped)",
                                   cur.buf[cur.pos:cur.pos + 200])
        except UnicodeDecodeError:
            yield cur.line, Reject(str(path), cur.line, "not UTF-8 (rest of file skipped)")


def _convert(member: dict, where: str) -> tuple[Example, Document] | str:
    (pmid, obj), = member.items()
    pmid = pmid.strip()
    if not isinstance(obj, dict):
        return "bad entry: value is not an object"
    question, contexts = text_field(obj, "QUESTION"), obj.get("CONTEXTS")
    if question is None:
        return "missing or empty 'QUESTION'"
    if not isinstance(contexts, list) or not contexts:
        return "missing or empty 'CONTEXTS'"
    if not all(isinstance(c, str) and c.strip() for c in contexts):
        return "bad CONTEXTS: every context must be a non-empty string"
    decision = obj.get("final_decision")
    if decision not in DECISIONS:
        return f"bad final_decision: {decision!r} (expected yes, no or maybe)"
    contexts = [" ".join(c.split()) for c in contexts]
    labels = obj.get("LABELS")
    if not (isinstance(labels, list) and len(labels) == len(contexts) and all(isinstance(x, str) for x in labels)):
        labels = [""] * len(contexts)
    lines = [f"Context {n}{f' ({label.strip()})' if label.strip() else ''}: {text}"
             for n, (label, text) in enumerate(zip(labels, contexts), start=1)]
    long_answer = text_field(obj, "LONG_ANSWER")
    meshes = [m for m in obj.get("MESHES") or [] if isinstance(m, str) and m.strip()]
    example = Example(instruction="\n".join([*lines, f"Question: {question}", ASK]),
                      output=f"{decision}. {long_answer}" if long_answer else f"{decision}.", source=where,
                      meta={"question": question, "answer": decision,
                            "subject": subject_of_meshes(meshes, question), "pmid": pmid})
    document = Document(title=question, text="\n".join(contexts), source=where,
                        metadata={"pmid": pmid, "year": obj.get("YEAR"), "meshes": meshes})
    return example, document


def read(path: Path) -> Iterator[Example | Document | Reject]:
    path = Path(path)
    yield from convert_records(path, _members(path), _convert)
