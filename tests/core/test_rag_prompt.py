"""Training and serving write the same retrieval prompt (core/rag_prompt.py), byte for byte.

The training examples come from the real data build of the real-model lane (noise injection and
refusals with context, English prompt); the serving prompt is what GatewayService puts in the
user turn when its retriever returns the same passages in the same order.
"""
from __future__ import annotations

import asyncio
import random

import pytest

from converters.build import as_passage, build_examples, knowledge_of, passage_of
from converters.example_meta import is_open_answer, question_of
from converters.prep import noise
from core import rag_prompt
from core.rag_prompt import Passage
from core.recipe.load import load_recipe
from core.recipe.schema import RagSection
from serve.gateway.protocol import ChatCompletionRequest
from serve.gateway.service import GatewayService, build_prompt
from serve.rag.types import Source
from tests.conftest import ROOT
from tests.serve.gateway.conftest import ListRetriever

LANE = ROOT / "recipes/smollm2-135m_cpu_lora.yaml"


@pytest.fixture(scope="module")
def lane():
    recipe = load_recipe(LANE)
    return recipe, build_examples(recipe.data, recipe.finetune.seed, recipe.rag.prompt)


def served_prompt(question: str, passages: list[Passage], language: str) -> str:
    """The user turn the gateway sends upstream when retrieval returns `passages`, best first."""
    sources = [Source(chunk_id=f"c{i}", doc_id=f"d{i}", title=p.title, text=p.text, score=1.0 - i / 100)
               for i, p in enumerate(passages)]
    settings = RagSection(prompt=language, retrieval={"top_k": 1, "context_k": len(sources) or 1,
                                                      "max_context_chars": 100_000})
    service = GatewayService("http://127.0.0.1:9/v1", None, ListRetriever(sources), settings)
    request = ChatCompletionRequest.model_validate({"model": "m-rag", "messages": [
        {"role": "system", "content": "You are a careful medical assistant."},
        {"role": "user", "content": question}]})
    messages, _ = asyncio.run(service._augment(request, "m"))
    return messages[-1]["content"]


def passages_in(prompt: str, pool: list[Passage]) -> list[Passage]:
    """The pool's passages that the prompt holds, in the order they appear (found by their text)."""
    found = [(prompt.find(rag_prompt.flatten(p.text)), p) for p in pool]
    return [p for at, p in sorted((f for f in found if f[0] >= 0), key=lambda f: f[0])]


def every_passage(built) -> list[Passage]:
    """What a training prompt can show: training answers and knowledge passages."""
    answers = [passage_of(ex) for ex in built.splits["train"] if is_open_answer(ex) and "grounded" not in ex.meta]
    return answers + [as_passage(d) for d in knowledge_of(built.documents).values()]


@pytest.mark.parametrize("kind", ["noisy-context", "distractor-context"])
def test_a_retrieval_aware_example_is_the_prompt_the_gateway_sends(lane, kind):
    recipe, built = lane
    pool = every_passage(built)
    chosen = [ex for ex in built.splits["train"] if ex.meta.get("kind") == kind]
    assert len(chosen) > 10
    for ex in chosen:
        passages = passages_in(ex.instruction, pool)
        assert len(passages) == recipe.data.noise.distractors + 1  # as many as the gateway sends
        assert served_prompt(question_of(ex), passages, recipe.rag.prompt) == ex.instruction


def test_a_refusal_with_context_is_the_prompt_the_gateway_sends(lane):
    recipe, built = lane
    train = built.splits["train"]
    pool = every_passage(built)
    with_context = [ex for ex in train if ex.meta.get("kind") == "refusal" and ex.meta.get("context")]
    assert with_context and all(ex.output == recipe.data.refusals.text.strip() for ex in with_context)
    for ex in with_context:
        passages = passages_in(ex.instruction, pool)
        assert len(passages) == recipe.data.noise.distractors + 1
        assert served_prompt(question_of(ex), passages, recipe.rag.prompt) == ex.instruction


@pytest.mark.parametrize("language", rag_prompt.LANGUAGES)
def test_inject_and_build_prompt_agree_in_each_language(language):
    question = " Can I take ibuprofen for a fever? "
    relevant = Passage("Ibuprofen lowers fever;\n take it with food.", "Fever and ibuprofen")
    pool = [Passage("Eczema flares with washing.", "Hand eczema"), "Low salt helps blood pressure.",
            Passage("Ice a sprained ankle.", "")]
    prompt, gold = noise.inject(question, relevant, pool, 3, random.Random(3), nonmedical_share=0,
                                 language=language)
    order = passages_in(prompt, [relevant, *[p if isinstance(p, Passage) else Passage(p) for p in pool]])
    assert order[gold - 1] == relevant
    sources = [Source(chunk_id=str(i), doc_id=str(i), title=p.title, text=p.text, score=0.0)
               for i, p in enumerate(order)]
    assert build_prompt(question, sources, 100_000, language)[0] == prompt
    assert prompt.startswith(rag_prompt.WORDINGS[language].header + "\n[1] ")
    assert prompt.endswith(f"{rag_prompt.WORDINGS[language].question}{question.strip()}\n\n"
                           f"{rag_prompt.WORDINGS[language].instruction}")


def test_render_layout():
    prompt = rag_prompt.render("Q?", [Passage("a\n b", "T"), Passage("c")], "en")
    wording = rag_prompt.WORDINGS["en"]
    assert prompt == f"{wording.header}\n[1] T\na b\n\n[2] c\n\nQuestion: Q?\n\n{wording.instruction}"
    assert wording.no_passages in rag_prompt.render("Q?", [], "en")


def test_the_lane_prompt_follows_the_lane_language(lane):
    recipe, built = lane
    example = next(ex for ex in built.splits["train"] if ex.meta.get("kind") == "noisy-context")
    assert recipe.rag.prompt == "en" and example.instruction.startswith(rag_prompt.WORDINGS["en"].header)

