"""PubMed scraper JSON converter: array or JSONL, string or sectioned abstracts, length filter."""
from __future__ import annotations

import json
from pathlib import Path

from converters import pubmed
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "pubmed" / "pubmed_sample.json"
LONG = "Background sentence about a cohort of patients with a chronic disease. " * 4  # ~280 chars


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def test_sample_counts_and_short_reject():
    examples, rejects = split(pubmed.read(SAMPLE))
    assert len(examples) == 5
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(3, "abstract too short")]
    assert [e.meta["pmid"] for e in examples] == ["90000001", "90000002", "90000004", "90000005", "90000006"]


def test_instruction_and_sections():
    examples, _ = split(pubmed.read(SAMPLE))
    first, sectioned, mixed = examples[0], examples[1], examples[3]
    assert first.instruction == ("Write the abstract of a biomedical article titled: Morning blood pressure "
                                 "surge and silent cerebral infarction in older adults: a community cohort")
    assert first.output.startswith("The clinical relevance of the morning rise")
    lines = sectioned.output.split("\n")
    assert [line.split(":")[0] for line in lines] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert lines[1].startswith("METHODS: In this randomized trial")
    assert mixed.output.split("\n")[2].startswith("Participants were adults")  # unlabelled string section


def test_length_filter_bounds_and_titles(tmp_path):
    rows = [
        {"pmid": 1, "title": "Exactly at the minimum", "abstract": "x" * 200},
        {"pmid": 2, "title": "Just below", "abstract": "x" * 199},
        {"pmid": 3, "title": "At the maximum", "abstract": "x" * 6000},
        {"pmid": 4, "title": "Just above", "abstract": "x" * 6001},
        {"pmid": 5, "title": "  ", "abstract": LONG},
        {"pmid": 6, "title": "No abstract", "abstract": []},
        {"pmid": 7, "title": "Odd sections", "abstract": [{"label": "A", "text": 5}]},
    ]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    examples, rejects = split(pubmed.read(path))
    assert [e.meta["pmid"] for e in examples] == ["1", "3"]
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [
        (2, "abstract too short"), (4, "abstract too long"), (5, "empty title"),
        (6, "missing or empty 'abstract'"), (7, "bad abstract")]


def test_jsonl_and_entrez_spelling(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"pmid": "11", "title": "T", "abstract": [{"Label": "AIM", "#text": LONG}]}) + "\n"
                    + "{broken\n", encoding="utf-8")
    examples, rejects = split(pubmed.read(path))
    assert examples[0].output == "AIM: " + LONG.strip()
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(2, "bad JSON")]


def test_streamed_array_across_buffer_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(pubmed, "CHUNK", 64)  # every record spans several reads
    rows = [{"pmid": str(i), "title": f"Title {i}", "abstract": LONG} for i in range(5)]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    examples, rejects = split(pubmed.read(path))
    assert [e.meta["pmid"] for e in examples] == ["0", "1", "2", "3", "4"] and rejects == []
    path.write_text(json.dumps(rows[:2])[:-1] + ', {"pmid": "x", "title": ', encoding="utf-8")
    examples, rejects = split(pubmed.read(path))
    assert len(examples) == 2
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(3, "bad JSON")]


def test_each_kept_record_is_also_a_corpus_passage():
    from converters.common import Document, Example
    items = list(pubmed.read(SAMPLE))
    examples = [i for i in items if isinstance(i, Example)]
    documents = [i for i in items if isinstance(i, Document)]
    assert len(documents) == len(examples) == 5
    for ex, doc in zip(examples, documents):
        assert doc.text == ex.output and doc.metadata["pmid"] == ex.meta["pmid"]
        assert doc.title in ex.instruction and len(doc.doc_id) == 16
