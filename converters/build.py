"""`make data`: the recipe's data sources -> LLaMA-Factory datasets, eval sets, RAG corpus, report.

Pipeline (each step switchable in the recipe's data section):
  read       every source through its format's converter; malformed rows -> rejects
  clean      HTML/control chars, width/whitespace, PII scrubbing, length filters
  dedupe     exact and near-duplicate examples dropped (first occurrence kept)
  split      official split when the source has one, else a seeded hash of the text
  five       open answers restructured into the five 【...】 sections
  refusals   out-of-scope questions with the standard refusal, split like the rest; data.refusals.eval_questions
             ones in the test split only
  noise      retrieval-aware training (data.noise, RAFT-style): a share of the open training examples get
             the passage that answers among distractors and cite its [n]; another share get distractors
             only and say so before answering (core/rag_prompt.py's not_covered sentence); grounded
             examples (format grounded-jsonl) use their knowledge passage, same-topic passages first
             among the distractors; held-out questions' passages never appear in training prompts
  context    a share of training refusals get retrieved-style context, none relevant (data.refusals.with_context);
             both in the gateway's prompt template (core/rag_prompt.py, in rag.prompt's language)
  system     a share of the training examples lose the recipe's system prompt (data.without_system)
  leakage    evaluation questions also found in training data are reported, and held-out grounded
             questions whose fact a training answer states (a warning: they would measure memory)
  pairs      preference pairs of pair formats, plus refusal, five-section, flattened, answer and citation
             pairs (data.pairs), kinds shuffled together; a training pair whose question is held out
             (validation/test) is rejected

Writes into <run_dir>/data/:
    train.jsonl, validation.jsonl, test.jsonl   alpaca rows (instruction/input/output/system[/history])
    dataset_info.json                           entries medkit_train / _validation / _test
    medkit_pairs_<split>.jsonl                  preference pairs, LLaMA-Factory ranking form (DPO/ORPO/SimPO)
    medkit_kto_<split>.jsonl                    the same pairs in KTO form (kto_tag), data.pairs.kto
    eval/<source>.jsonl                         test-split items with gold answers and metadata
    corpus.jsonl                                RAG passages {id, title, text, source, metadata}
    rejects.jsonl, duplicates.jsonl, leakage.jsonl
    summary.json, report.md, report_*.png       counts, reasons, lengths, categories, examples

Re-running is deterministic and overwrites. Run as:
    python -m converters.build recipes/quickstart.yaml [key.sub=value ...]
"""
from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from converters import FORMATS
from converters import consistency, pairs
from converters.accounting import accounting, problems
from converters.common import Document, Example, Reject
from converters.example_meta import is_open_answer, original_answer, question_of, subject_of  # noqa: F401
from converters.prep import clean, dedupe, five_section, five_section_llm, noise, refusals
from converters.sources import check_source, read_source
from core.jsonl import write_jsonl
from core.layout import RunLayout, dataset_info_in, eval_sets_in
from core.rag_prompt import Passage
from core.recipe.schema import DataSection, Recipe
from core.stage import StageFailed, begin, cli, command_status

SPLITS = ("train", "validation", "test")
DATASET_PREFIX = "medkit"


@dataclass
class Built:
    """Everything one `make data` run produced, kept for writing and the report."""
    splits: dict[str, list[Example]] = field(default_factory=lambda: {s: [] for s in SPLITS})
    documents: list[Document] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    leakage: list[dict] = field(default_factory=list)
    per_source: dict[str, Counter] = field(default_factory=dict)
    pii: Counter = field(default_factory=Counter)
    reasons: dict[str, Counter] = field(default_factory=dict)  # source -> reject reason -> rows
    five: Counter = field(default_factory=Counter)  # five-section fill counts (prep.five_section.tally)
    samples: dict[str, dict] = field(default_factory=dict)  # one before/after example per transformation
    derived: dict[str, list[Example]] = field(default_factory=lambda: {s: [] for s in SPLITS})  # refusal/five pairs
    pair_counts: Counter = field(default_factory=Counter)  # derived pairs by origin, refusals without an answer
    context: Counter = field(default_factory=Counter)  # training examples given retrieved context, by kind
    fact_leaks: list[dict] = field(default_factory=list)  # held-out grounded facts stated by a training answer


def split_of(example: Example, seed: int, val_size: float, test_size: float) -> str:
    official = example.meta.get("split")
    if official in SPLITS:
        return official
    key = f"{seed}\x00{example.instruction}\x00{example.input}".encode("utf-8")
    bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64  # uniform in [0, 1)
    if bucket < test_size:
        return "test"
    if bucket < test_size + val_size:
        return "validation"
    return "train"


def reject(built: Built, label: str, item: Reject) -> None:
    built.rejects.append(item)
    built.per_source[label]["rejected"] += 1
    built.reasons.setdefault(label, Counter())[item.reason.split(":")[0]] += 1


def read_sources(data: DataSection, built: Built) -> list[Example]:
    """Every source through its converter; per source, counts that add up:
    input = kept + rejected + duplicates + over_max_samples (documents are counted apart)."""
    examples: list[Example] = []
    with tempfile.TemporaryDirectory(prefix="medkit-src-") as scratch:  # zip members are extracted here
        for n, source in enumerate(data.sources):
            label = source.name or Path(source.path).stem
            counts = built.per_source.setdefault(label, Counter())
            for item in read_source(source.format, source.path, FORMATS[source.format], Path(scratch) / str(n)):
                if isinstance(item, Document):
                    item.metadata.setdefault("dataset", label)
                    built.documents.append(item)
                    counts["documents"] += 1
                    continue
                counts["input"] += 1
                if isinstance(item, Reject):
                    reject(built, label, item)
                elif source.max_samples is not None and counts["read"] >= source.max_samples:
                    counts["over_max_samples"] += 1
                else:
                    item.meta.update(dataset=label, format=source.format)
                    if source.split:
                        item.meta["split"] = source.split
                    if source.system_prompt is not None:
                        item.system = item.system or source.system_prompt
                    examples.append(item)
                    counts["read"] += 1
    return examples


def clean_examples(examples: list[Example], data: DataSection, built: Built) -> list[Example]:
    settings, kept, biggest = data.clean, [], 0
    for ex in examples:
        before = ex.instruction
        for attr in ("instruction", "input", "output"):
            text = clean.clean_text(getattr(ex, attr))
            if settings.scrub_pii:
                text, counts = clean.scrub_pii(text)
                built.pii.update(counts)
            setattr(ex, attr, text)
        # the report shows the question whose length cleaning changed most (tags, PII), else any change
        change = abs(len(before) - len(ex.instruction)) + (before != ex.instruction) * 0.5
        if change > biggest:
            biggest = change
            built.samples["clean"] = {"before": before[:300], "after": ex.instruction[:300]}
        reason = (clean.length_ok(ex.instruction, settings.min_question_chars, 10**9)
                  or clean.length_ok(ex.output, settings.min_answer_chars, settings.max_answer_chars))
        if reason:
            file, _, line = ex.source.rpartition(":")
            reject(built, ex.meta["dataset"], Reject(file, int(line) if line.isdigit() else 0, reason,
                                                      ex.instruction[:200]))
            continue
        kept.append(ex)
    for doc in built.documents:
        doc.text = clean.clean_text(doc.text)
        if settings.scrub_pii:
            doc.text, counts = clean.scrub_pii(doc.text)
            built.pii.update(counts)
    return kept


def exact_only(examples: list[Example], key) -> tuple[list, list]:
    kept, dropped, seen = [], [], {}
    for ex in examples:
        norm = dedupe.normalise(key(ex))
        if norm in seen:
            dropped.append((ex, seen[norm], 1.0, "exact"))
        else:
            seen[norm] = len(kept)
            kept.append(ex)
    return kept, dropped


def dedupe_examples(examples: list[Example], data: DataSection, built: Built) -> list[Example]:
    """Duplicates dropped. Pairs are compared exactly on question, chosen and rejected (one positive
    answer with many negatives gives many distinct pairs); other examples as the recipe says."""
    def key(e: Example) -> str:
        return f"{e.instruction}\n{e.input}\n{e.output}" + (f"\n{e.meta['rejected']}" if pairs.is_pair(e) else "")

    plain = [e for e in examples if not pairs.is_pair(e)]
    if data.dedupe.near:
        kept, dropped = dedupe.dedupe(plain, key=key, threshold=data.dedupe.threshold)
    else:
        kept, dropped = exact_only(plain, key)
    kept_pairs, dropped_pairs = exact_only([e for e in examples if pairs.is_pair(e)], key)
    for item, kept_index, similarity, kind in dropped + [(i, len(kept) + k, s, t) for i, k, s, t in dropped_pairs]:
        built.duplicates.append({"source": item.source, "duplicate_of": (kept + kept_pairs)[kept_index].source,
                                 "kind": kind, "similarity": round(similarity, 3)})
        built.per_source[item.meta["dataset"]]["duplicates"] += 1
    return kept + kept_pairs


def passage_of(example: Example) -> Passage:
    """An open-answer example as the RAG corpus holds it (write_outputs, corpus_from_qa): its original
    answer, titled by its category, else its source's name. Never by its question: a passage titled with
    the question would give the answer away in training prompts that the gateway's never do."""
    return Passage(original_answer(example), subject_of(example) or example.meta.get("dataset") or "")


def knowledge_of(documents: list[Document]) -> dict[str, Document]:
    """{passage id: document} of the grounded-jsonl passages (converters/grounded.py)."""
    return {d.metadata["passage_id"]: d for d in documents if d.metadata.get("kind") == "knowledge"}


def as_passage(document: Document) -> Passage:
    return Passage(document.text, document.title)


def context_pool(train: list[Example], knowledge: dict[str, Document], held_out: set[str]) -> list[Passage]:
    """Medical passages a training prompt may show as distractors: training answers (not the grounded
    ones: their passage stands for them) and the knowledge passages, less those of held-out questions."""
    answers = [passage_of(ex) for ex in train if is_open_answer(ex) and "grounded" not in ex.meta]
    return answers + [as_passage(d) for pid, d in knowledge.items() if pid not in held_out]


def distractors_for(example: Example, relevant: Passage, pool: list[Passage], k: int,
                    knowledge: dict[str, Document], held_out: set[str], rng: random.Random) -> list[Passage]:
    """k passages other than `relevant`: same-topic knowledge passages first (up to half, the ones
    retrieval confuses), the rest drawn from the pool."""
    topic = (example.meta.get("grounded") or {}).get("topic")
    same = [as_passage(d) for pid, d in knowledge.items()
            if topic and d.metadata.get("topic") == topic and pid not in held_out
            and pid != example.meta["grounded"]["passage_id"]]
    hard = rng.sample(same, min(len(same), (k + 1) // 2))
    taken = {p.text for p in hard} | {relevant.text}
    rest = [p for p in pool if p.text not in taken]
    return hard + rng.sample(rest, min(len(rest), k - len(hard)))


def add_retrieval_context(train: list[Example], data: DataSection, rng: random.Random, built: Built,
                          language: str, knowledge: dict[str, Document], held_out: set[str],
                          pool: list[Passage]) -> None:
    """RAFT-style context for the open-answer training examples (data.noise): `share` of them get the
    passage that answers (a grounded example's knowledge passage, else the example's own answer) among
    `distractors` others and cite it; `distractors_only` of them get distractors + 1 passages without it
    and say so before answering; the rest keep no context. With data.noise.answer_as_passage false only
    grounded examples get a passage that answers."""
    k = data.noise.distractors
    candidates = [i for i, ex in enumerate(train) if is_open_answer(ex) and not pairs.is_pair(ex)]
    rng.shuffle(candidates)
    n_oracle = round(len(candidates) * data.noise.share)
    n_without = round(len(candidates) * data.noise.distractors_only)
    answerable = [i for i in candidates if data.noise.answer_as_passage or "grounded" in train[i].meta]
    oracle = set(answerable[:n_oracle])
    without = [i for i in candidates if i not in oracle][:n_without]
    for i in sorted(oracle) + without:
        ex = train[i]
        grounded = ex.meta.get("grounded")
        relevant = as_passage(knowledge[grounded["passage_id"]]) if grounded else passage_of(ex)
        question = question_of(ex)  # the bare question, as the gateway gets it (not instruction_template's)
        if i in oracle:
            others = distractors_for(ex, relevant, pool, k, knowledge, held_out, rng)
            prompt, gold = noise.inject(question, relevant, others, k, rng, nonmedical_share=0.0, language=language)
            kind, output, sample = "noisy-context", noise.cite(ex.output, gold), "noise"
            meta = {"gold_index": gold, "passages": k + 1}
        else:
            others = distractors_for(ex, relevant, pool, k + 1, knowledge, held_out, rng)
            prompt = noise.distractors_only(question, others, k + 1, rng, language=language)
            kind, output, meta = "distractor-context", noise.not_covered(ex.output, language), {}
            sample = "noise_distractors_only"
        if sample not in built.samples:
            built.samples[sample] = {"before": ex.instruction[:300], "after": prompt[:600]}
        train[i] = Example(instruction=prompt, output=output, input=ex.input, system=ex.system, source=ex.source,
                           meta={**ex.meta, **meta, "kind": kind, "question": question})
        built.context[kind] += 1


def add_refusal_context(train: list[Example], data: DataSection, rng: random.Random, built: Built,
                        language: str, pool: list[Passage]) -> None:
    """A share of the training refusals get data.noise.distractors + 1 medical passages (as many as a
    noise example), none relevant: the gateway retrieves for out-of-scope questions too."""
    candidates = [i for i, ex in enumerate(train) if ex.meta.get("kind") == "refusal"]
    chosen = sorted(rng.sample(candidates, round(len(candidates) * data.refusals.with_context)))
    for i in chosen:
        ex = train[i]
        prompt = noise.distractors_only(question_of(ex), pool, data.noise.distractors + 1, rng, language=language)
        if "refusal_context" not in built.samples:
            built.samples["refusal_context"] = {"before": ex.instruction[:300], "after": prompt[:600]}
        train[i] = Example(instruction=prompt, output=ex.output, input=ex.input, system=ex.system, source=ex.source,
                           meta={**ex.meta, "question": question_of(ex), "context": "distractors"})
        built.context["refusal-with-context"] += 1


def drop_system(train: list[Example], data: DataSection, rng: random.Random, built: Built) -> None:
    """data.without_system of the training examples written with data.system_prompt lose it: LLaMA-Factory
    then renders the template's default system prompt, as vLLM does for a chat without a system message."""
    candidates = [ex for ex in train if data.system_prompt and ex.system == data.system_prompt]
    for ex in rng.sample(candidates, round(len(candidates) * data.without_system)):
        ex.system = ""
        built.context["without-system"] += 1


def fact_leaks(splits: dict[str, list[Example]]) -> list[dict]:
    """Held-out grounded questions whose fact a training answer states: they would not measure retrieval."""
    answers = [(ex.source, original_answer(ex).lower()) for ex in splits["train"]]
    leaks = []
    for ex in splits["validation"] + splits["test"]:
        for fact in (ex.meta.get("grounded") or {}).get("facts", []):
            hit = next((where for where, text in answers if fact.lower() in text), None)
            if hit:
                leaks.append({"eval_source": ex.source, "train_source": hit, "fact": fact})
    return leaks


def restructure_answers(examples: list[Example], data: DataSection, built: Built) -> None:
    """Open answers (not preference pairs) into the five sections; the original kept in meta. A final
    answer that is a follow-up question (a multi-turn consultation asking for facts) stays as it is;
    earlier rounds (meta["history"]) are never restructured."""
    chosen = [ex for ex in examples if is_open_answer(ex) and "rejected" not in ex.meta]
    asking = [ex for ex in chosen if five_section.is_follow_up(ex.output)]
    built.five["skipped_follow_up"] += len(asking)
    chosen = [ex for ex in chosen if not five_section.is_follow_up(ex.output)]
    settings, placeholders = data.five_section, data.five_section.placeholders or None
    if settings.method == "llm":
        results = five_section_llm.restructure_all((ex.output for ex in chosen), settings.llm, placeholders,
                                                   settings.llm.concurrency)
    else:
        results = [five_section.restructure(ex.output, placeholders) for ex in chosen]
    for ex, (text, report) in zip(chosen, results):
        before = ex.meta["original_output"] = ex.output
        ex.output = text
        five_section.tally(built.five, report)
        built.five["llm_fallback"] += report.get("method") == "rules-fallback"
        if before != text and "five_section" not in built.samples:
            built.samples["five_section"] = {"before": before[:300], "after": text[:500]}


def build_examples(data: DataSection, seed: int, language: str = "zh") -> Built:
    """`language`: the retrieval prompt's (rag.prompt), for the examples given context."""
    built = Built()
    rng = random.Random(seed)
    examples = read_sources(data, built)
    if data.clean.enabled:
        examples = clean_examples(examples, data, built)
    if data.dedupe.exact or data.dedupe.near:
        examples = dedupe_examples(examples, data, built)
    refusal_text = data.refusals.text or refusals.DEFAULT_REFUSAL
    questions = Path(data.refusals.questions) if data.refusals.questions else None
    for ex in refusals.refusal_examples(data.refusals.count, rng, refusal_text, questions) if data.refusals.count else []:
        ex.meta.update(dataset="refusals", format="refusal")
        built.per_source.setdefault("refusals", Counter()).update(input=1, read=1)
        examples.append(ex)
    if data.refusals.eval_questions:
        for ex in refusals.held_out_refusals(Path(data.refusals.eval_questions), refusal_text):
            ex.meta.update(dataset="refusals", format="refusal")
            built.per_source.setdefault("refusals", Counter()).update(input=1, read=1)
            examples.append(ex)
    if data.five_section.enabled:
        restructure_answers(examples, data, built)
    questions = [dedupe.normalise(question_of(ex)) for ex in examples]  # before the instruction template
    placed = []
    for ex in examples:
        if data.instruction_template and is_open_answer(ex):
            ex.instruction = data.instruction_template.format(question=ex.instruction)
        if data.system_prompt and not ex.system:
            ex.system = data.system_prompt
        placed.append(split_of(ex, seed, data.val_size, data.test_size))
    held_out_questions = {q: split for q, split in zip(questions, placed) if split != "train"}
    for ex, split, question in zip(examples, placed, questions):
        if split == "train" and pairs.is_pair(ex) and question in held_out_questions:
            file, _, line = ex.source.rpartition(":")
            reject(built, ex.meta["dataset"], Reject(file, int(line) if line.isdigit() else 0,
                                                      f"held-out question: also in the {held_out_questions[question]}"
                                                      f" split", question_of(ex)[:200]))
            continue
        built.splits[split].append(ex)
        built.per_source[ex.meta["dataset"]][split] += 1
    knowledge = knowledge_of(built.documents)
    held_out_passages = {ex.meta["grounded"]["passage_id"] for ex in built.splits["validation"] + built.splits["test"]
                         if "grounded" in ex.meta}
    pool = context_pool(built.splits["train"], knowledge, held_out_passages)  # the distractors of every context
    if data.noise.share or data.noise.distractors_only:
        add_retrieval_context(built.splits["train"], data, rng, built, language, knowledge, held_out_passages, pool)
    if data.refusals.with_context:
        add_refusal_context(built.splits["train"], data, rng, built, language, pool)
    if data.without_system:
        drop_system(built.splits["train"], data, rng, built)
    built.fact_leaks = fact_leaks(built.splits)
    derive_pairs(data, built, rng, refusal_text)
    refusal = next((ex for ex in examples if ex.meta.get("kind") == "refusal"), None)
    if refusal:
        built.samples["refusal"] = {"before": refusal.instruction, "after": refusal.output}
    held_out = built.splits["validation"] + built.splits["test"]
    hits = dedupe.leakage([question_of(e) for e in built.splits["train"]], [question_of(e) for e in held_out],
                          threshold=data.leakage_threshold)
    built.leakage = [{"eval_source": held_out[e].source, "train_source": built.splits["train"][t].source,
                      "similarity": round(s, 3)} for e, t, s in hits]
    return built


def derive_pairs(data: DataSection, built: Built, rng: random.Random, refusal_text: str) -> None:
    """Refusal, five-section and flattened pairs (data.pairs), each in the split of the example it comes from."""
    answers = pairs.load_answers(Path(data.pairs.refusal_answers)) if data.pairs.refusals and \
        data.pairs.refusal_answers else pairs.load_answers() if data.pairs.refusals else {}
    for split in SPLITS:
        made: list = []
        if data.pairs.refusals:
            found, unanswered = pairs.refusal_pairs(built.splits[split], answers)
            made += [("refusal-pairs", p) for p in found]
            built.pair_counts["refusals without an answer"] += unanswered
        if data.pairs.five_section:
            made += [("five-section-pairs", p) for p in pairs.five_section_pairs(built.splits[split])]
        if data.pairs.flattened:
            made += [("flattened-pairs", p) for p in pairs.flattened_pairs(built.splits[split])]
        if data.pairs.answers:
            made += [("answer-pairs", p) for p in pairs.answer_pairs(built.splits[split], refusal_text)]
        if data.pairs.citations:
            made += [("citation-pairs", p) for p in pairs.citation_pairs(built.splits[split])]
        rng.shuffle(made)  # kinds mixed: a preference stage's max_samples takes the first rows
        for origin, pair in made:
            if isinstance(pair, str):  # never the case for pairs made from kept examples, but checked alike
                built.rejects.append(Reject(origin, 0, pair))
                built.pair_counts[f"{origin} rejected"] += 1
                continue
            built.derived[split].append(pair)
            built.pair_counts[origin] += 1


def eval_item(example: Example) -> dict:
    prompt = example.instruction + (f"\n{example.input}" if example.input else "")
    item = {"id": hashlib.sha1(f"{example.source}\x00{prompt}".encode()).hexdigest()[:16],
            "dataset": example.meta.get("dataset"), "format": example.meta.get("format"),
            "kind": example.meta.get("kind") or ("choice" if "options" in example.meta else
                                                 "label" if "answer" in example.meta else "open"),
            "question": question_of(example), "prompt": prompt, "system": example.system,
            "reference": original_answer(example), "source": example.source}
    if "original_output" in example.meta:  # the model is trained to answer in the five sections
        item["expected_format"] = "five_section"
    if example.meta.get("history"):  # a multi-turn item: the earlier rounds come before the prompt
        item["history"] = example.meta["history"]
    # exam_type / exam_class / question_type: CMB's, for eval.prompt_preset opencompass (evaluation/presets.py)
    for key in ("options", "answer", "exam_type", "exam_class", "question_type"):
        if example.meta.get(key) is not None:
            item[key] = example.meta[key]
    if subject_of(example):
        item["subject"] = subject_of(example)
    grounded = example.meta.get("grounded")
    if grounded:  # the grounded suite (evaluation/grounded.py); write_outputs adds the passage's doc id
        item.update(facts=grounded["facts"], topic=grounded["topic"], passage_id=grounded["passage_id"])
    return item


def to_row(example: Example) -> dict:
    row = example.to_alpaca()
    if example.meta.get("history"):
        row["history"] = example.meta["history"]
    return row


def sft_rows(examples: list[Example]) -> list[dict]:
    """The SFT rows of a split. A pair's chosen answer is an SFT row too, once per (prompt, chosen)
    and not when the same row is already there (cMedQA2 gives one positive many negatives)."""
    rows, seen = [], set()
    for ex in sorted(examples, key=pairs.is_pair):  # plain examples first: a pair never displaces one
        row = to_row(ex)
        key = json.dumps(row, ensure_ascii=False, sort_keys=True)
        if pairs.is_pair(ex) and key in seen:
            continue
        seen.add(key)
        rows.append(row)
    return rows


def lf_entry(file_name: str, history: bool = False) -> dict:
    """A dataset_info.json entry for one of our alpaca-column JSONL files.

    `history` is mapped only when some row has it: LLaMA-Factory fails on a mapped column
    that the file lacks.
    """
    columns = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}
    if history:
        columns["history"] = "history"
    return {"file_name": file_name, "columns": columns}


def write_outputs(built: Built, data: DataSection, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for stale in list(out.glob("*.jsonl")) + list(eval_sets_in(out).glob("*.jsonl")) + list(out.glob("report_*.png")):
        stale.unlink()  # a rerun must not leave files from a previous configuration
    rows = {s: sft_rows(built.splits[s]) for s in SPLITS}
    files = {s: f"{s}.jsonl" for s in SPLITS if rows[s]}
    for split, name in files.items():
        write_jsonl(out / name, rows[split])
    info = {f"{DATASET_PREFIX}_{split}": lf_entry(name, any("history" in r for r in rows[split]))
            for split, name in files.items()}
    pair_splits = {s: [e for e in built.splits[s] if pairs.is_pair(e)] + built.derived[s] for s in SPLITS}
    for split, found in pair_splits.items():  # for the preference stage (train/render_preference.py)
        info.update(pairs.write(found, out, f"{DATASET_PREFIX}_pairs_{split}",
                                f"{DATASET_PREFIX}_kto_{split}" if data.pairs.kto else None))
    dataset_info_in(out).write_text(json.dumps(info, indent=2), encoding="utf-8")
    eval_sets_in(out).mkdir(exist_ok=True)
    by_dataset: dict[str, list[dict]] = {}
    knowledge = knowledge_of(built.documents)
    for ex in built.splits["test"]:
        item = eval_item(ex)
        if "passage_id" in item:
            item["gold_doc_ids"] = [knowledge[item["passage_id"]].doc_id]
        by_dataset.setdefault(ex.meta.get("dataset", "unknown"), []).append(item)
    for name, items in by_dataset.items():
        write_jsonl(eval_sets_in(out) / f"{name}.jsonl", items)
    corpus = {d.doc_id: d for d in built.documents}
    if data.corpus_from_qa:  # training pairs only: test answers in the corpus would leak
        for ex in built.splits["train"]:  # a grounded example's passage is in the corpus already
            if is_open_answer(ex) and not pairs.is_pair(ex) and "grounded" not in ex.meta:
                passage = passage_of(ex)
                doc = Document(title=passage.title, text=passage.text, source=ex.source,
                               metadata={"dataset": ex.meta.get("dataset"), "kind": "qa"})
                corpus.setdefault(doc.doc_id, doc)
    write_jsonl(out / "corpus.jsonl", (d.to_json() for d in corpus.values()))
    write_jsonl(out / "rejects.jsonl", (json.loads(r.to_json()) for r in built.rejects))
    write_jsonl(out / "duplicates.jsonl", built.duplicates)
    write_jsonl(out / "leakage.jsonl", built.leakage)
    for counts in built.per_source.values():
        counts["kept"] = sum(counts.get(split, 0) for split in SPLITS)
    summary = {
        "kept": sum(len(v) for v in built.splits.values()),
        "rejected": len(built.rejects),
        "duplicates": len(built.duplicates),
        "splits": {s: len(rows[s]) for s in SPLITS},
        "pairs": {**{s: len(pair_splits[s]) for s in SPLITS}, **dict(built.pair_counts)},
        "eval_sets": {k: len(v) for k, v in by_dataset.items()},
        "corpus_documents": len(corpus),
        "leakage": len(built.leakage),
        "with_context": {"noisy-context": built.context["noisy-context"],
                         "distractor-context": built.context["distractor-context"],
                         "refusal-with-context": built.context["refusal-with-context"],
                         "without-system": built.context["without-system"]},
        "grounded": {split: sum("grounded" in ex.meta for ex in built.splits[split]) for split in SPLITS},
        "grounded_fact_leaks": built.fact_leaks,
        "pii_replaced": dict(built.pii),
        "per_source": {k: dict(v) for k, v in built.per_source.items()},
        "rejects_by_reason": dict(Counter(r.reason.split(":")[0] for r in built.rejects)),
        "rejects_by_source": {k: dict(v) for k, v in built.reasons.items()},
        "five_section": {**five_section.fill_rates(built.five), "skipped_follow_up": built.five["skipped_follow_up"]}
        if built.five else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary


def build(data: DataSection, seed: int, out: Path, language: str = "zh") -> dict:
    built = build_examples(data, seed, language)
    summary = write_outputs(built, data, out)
    from converters import report  # matplotlib is imported only when a report is written
    report.write_report(built, summary, out)
    return summary


def run(recipe: Recipe) -> dict:
    """`make data` as a function: build, print the accounting, refuse data that must not be trained on
    (StageFailed; dataset_info.json is removed so that no training picks the data up). The summary."""
    layout = begin(recipe, "data")
    out = layout.data
    unreadable = [f"data.sources.{i}.path = {s.path!r}: {p}" for i, s in enumerate(recipe.data.sources)
                  for p in check_source(s.format, s.path)]
    if unreadable:  # empty files and folders, zips that do not open, release folders without their files
        raise StageFailed("\n".join(unreadable) + "\nfix the recipe's data sources and rerun `make data`", 2)
    for warning in consistency.warnings(recipe.data):
        print(f"warning: {warning}", file=sys.stderr)
    summary = build(recipe.data, recipe.finetune.seed, out, recipe.rag.prompt if recipe.rag else "zh")
    for label, counts in summary["per_source"].items():
        print(f"   {label:24s} {accounting(counts)}; documents {counts.get('documents', 0)}")
    print(f"   splits {summary['splits']}  eval sets {summary['eval_sets']}  corpus {summary['corpus_documents']}")
    print(f"   rejects {summary['rejects_by_reason'] or 'none'}  PII replaced {summary['pii_replaced'] or 'none'}"
          f"  leakage {summary['leakage']}")
    if any(summary["with_context"].values()):
        print(f"   with retrieved context (train): {summary['with_context']}")
    if any(summary["grounded"].values()):
        print(f"   grounded questions {summary['grounded']}")
    for leak in summary["grounded_fact_leaks"]:
        print(f"warning: held-out grounded question {leak['eval_source']}: its fact {leak['fact']!r} is in the "
              f"training answer {leak['train_source']}, so it measures memory, not retrieval", file=sys.stderr)
    if summary.get("five_section"):
        fs = summary["five_section"]
        print(f"   five_section: {fs['answers']} answers, placeholders in {fs['placeholder_share']:.1%} of content "
              f"sections, filled {', '.join(f'{k} {v:.0%}' for k, v in fs['filled'].items())}, topic inside another "
              f"section {', '.join(f'{k} {v:.0%}' for k, v in fs['not_placed'].items())}")
    refuse(summary, recipe.data, out)
    print(f"   wrote {out}/ (dataset_info.json, splits, eval/, corpus.jsonl, report.md)")
    return summary


def refuse(summary: dict, data: DataSection, out: Path) -> None:
    """StageFailed when the data must not be trained on (empty sources, too many rejects, no train split)."""
    found = problems(summary, data, out)
    if found:
        dataset_info_in(out).unlink(missing_ok=True)
        raise StageFailed("\n".join(found) + "\nnot training on this data; fix the recipe's data section "
                          "and rerun `make data`")


def check_built(recipe: Recipe) -> bool:
    """True when the run's datasets are built and pass the checks `make data` applies; StageFailed
    when they are built and fail them (a summary from an older `make data` run is checked again)."""
    layout = RunLayout.of(recipe)
    if not (layout.dataset_info.exists() and layout.data_summary.exists()):
        return False
    refuse(json.loads(layout.data_summary.read_text(encoding="utf-8")), recipe.data, layout.data)
    return True


def main(argv: list[str]) -> int:
    return cli(argv, run)


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
