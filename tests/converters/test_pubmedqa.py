"""PubMedQA ori_pqal.json: an Example and a Document per PMID, streamed with file line numbers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from converters import pubmedqa
from converters.common import Document, Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "pubmedqa" / "ori_pqal.json"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Document)],
            [i for i in items if isinstance(i, Reject)])


def test_sample_counts_lines_and_rejects():
    examples, docs, rejects = split(pubmedqa.read(SAMPLE))
    assert (len(examples), len(docs)) == (4, 4)
    assert [e.meta["pmid"] for e in examples] == ["90000101", "90000102", "90000103", "90000106"]
    assert [e.source for e in examples] == ["ori_pqal.json:2", "ori_pqal.json:25", "ori_pqal.json:45",
                                            "ori_pqal.json:89"]  # the line of each PMID key
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(63, "bad final_decision"),
                                                                   (79, "missing or empty 'CONTEXTS'")]
    assert "'probably'" in rejects[0].reason and '"90000104"' in rejects[0].raw


def test_example_fields():
    first = next(iter(pubmedqa.read(SAMPLE)))
    assert isinstance(first, Example)
    assert first.instruction.split("\n") == [
        "Context 1 (BACKGROUND): Readmission after a heart failure admission is frequent and costly.",
        "Context 2 (METHODS): We randomly assigned 400 discharged patients to weekly nurse telephone calls or "
        "usual care for three months.",
        "Context 3 (RESULTS): Thirty-day readmission was 12% with telephone follow-up and 21% with usual care.",
        "Question: Does a nurse-led telephone follow-up reduce readmissions after heart failure discharge?",
        pubmedqa.ASK]
    assert first.output == "yes. Weekly nurse telephone follow-up lowered thirty-day readmissions in this trial."
    assert first.meta == {"question": "Does a nurse-led telephone follow-up reduce readmissions after heart failure "
                                      "discharge?", "answer": "yes", "subject": "Heart Failure", "pmid": "90000101"}
    assert first.input == "" and first.system == ""


def test_labels_meshes_and_long_answer_edge_cases():
    examples, docs, _ = split(pubmedqa.read(SAMPLE))
    maybe = examples[2]  # 2 LABELS for 3 CONTEXTS: numbered without labels
    assert maybe.instruction.startswith("Context 1: Remote triage")
    assert "\nContext 3: Small lesions" in maybe.instruction
    assert maybe.meta["answer"] == "maybe" and maybe.meta["subject"] is None  # empty MESHES
    assert examples[1].output.startswith("no. ")
    assert examples[3].output == "yes."  # empty LONG_ANSWER


def test_document_follows_its_example():
    items = list(pubmedqa.read(SAMPLE))
    example, doc = items[0], items[1]
    assert isinstance(doc, Document) and doc.source == example.source
    assert doc.title == example.meta["question"]
    assert doc.text.split("\n")[1].startswith("We randomly assigned 400")
    assert doc.metadata == {"pmid": "90000101", "year": "2015",
                            "meshes": ["Heart Failure", "Patient Readmission", "Telephone"]}


@pytest.mark.parametrize("chunk", [1 << 20, 3, 5, 7, 11, 16])
def test_compact_file_and_small_chunks(tmp_path, monkeypatch, chunk):
    entry = {"QUESTION": "Q?", "CONTEXTS": ["c1", "c2"], "LABELS": ["A", "B"], "MESHES": ["M"],
             "final_decision": "no", "LONG_ANSWER": "because"}
    path = tmp_path / "pq.json"
    path.write_text(json.dumps({"1": entry, "2": {**entry, "QUESTION": ""}, "3": 123456789, "4": entry}),
                    encoding="utf-8")
    monkeypatch.setattr(pubmedqa, "CHUNK", chunk)  # items (and the bare number) straddle buffer refills
    examples, docs, rejects = split(pubmedqa.read(path))
    assert [e.meta["pmid"] for e in examples] == ["1", "4"] and len(docs) == 2
    assert examples[0].instruction == "Context 1 (A): c1\nContext 2 (B): c2\nQuestion: Q?\n" + pubmedqa.ASK
    assert [(r.line, r.reason) for r in rejects] == [(1, "missing or empty 'QUESTION'"),
                                                     (1, "bad entry: value is not an object")]
    assert rejects[1].raw == '{"3": 123456789}'


def test_broken_json_stops_with_a_reject(tmp_path):
    path = tmp_path / "pq.json"
    ok = json.dumps({"QUESTION": "Q?", "CONTEXTS": ["c"], "final_decision": "yes"})
    path.write_text('{\n"1": ' + ok + ',\n"2": {"QUESTION": \n}', encoding="utf-8")
    examples, _, rejects = split(pubmedqa.read(path))
    assert len(examples) == 1
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(3, "bad JSON")]
    assert rejects[0].reason.endswith("(rest of file skipped)")
    path.write_text('[{"QUESTION": "Q?"}]', encoding="utf-8")
    assert [(r.line, r.reason.split(":")[0]) for r in pubmedqa.read(path)] == [(0, "bad JSON")]


def test_subject_is_the_topic_term_not_a_check_tag(tmp_path):
    """Real MESHES lists are alphabetical and open with check tags (Adult, Aged, ...): the first term
    named 631 of 1,000 subjects Adult or Aged. The subject is the topic heading, or None."""
    def entry(question, meshes):
        return {"QUESTION": question, "CONTEXTS": ["c"], "LABELS": ["RESULTS"], "MESHES": meshes,
                "final_decision": "yes", "LONG_ANSWER": "a"}
    path = tmp_path / "ori_pqal.json"
    path.write_text(json.dumps({
        "1": entry("Does telephone follow-up reduce readmissions after heart failure?",
                   ["Adult", "Aged", "Aged, 80 and over", "Female", "Heart Failure", "Humans", "Male", "Middle Aged",
                    "Patient Readmission", "Telephone"]),
        "2": entry("Is laparoscopic appendectomy safe in pregnancy?",
                   ["Adolescent", "Adult", "Appendectomy/methods*", "Female", "Humans", "Laparoscopy",
                    "Pregnancy", "Retrospective Studies", "Young Adult"]),
        "3": entry("Do mice on a high-fat diet gain weight?", ["Animals", "Male", "Mice", "Diet, High-Fat"]),
        "4": entry("Is age a risk factor?", ["Adult", "Aged", "Humans", "Middle Aged", "Risk Factors"]),
    }), encoding="utf-8")
    subjects = [e.meta["subject"] for e in pubmedqa.read(path) if hasattr(e, "meta")]
    assert subjects == ["Heart Failure", "Appendectomy", "Diet, High-Fat", None]
