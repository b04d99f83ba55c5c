"""GatewayService and the prompt builder without the HTTP layer (the upstream is still real HTTP)."""
from __future__ import annotations

import asyncio

import pytest

from core.rag_prompt import WORDINGS
from serve.gateway.protocol import ChatCompletionRequest, DifyRecord, SourcePayload
from serve.gateway.service import GatewayError, GatewayService, build_prompt, with_prompt
from serve.rag.types import Source
from tests.serve.gateway.conftest import UPSTREAM_KEY, ListRetriever, corpus, rag_settings


def src(i: int, text: str, title: str = "", score: float = 0.5) -> Source:
    return Source(chunk_id=f"c{i}", doc_id=f"d{i}", title=title, text=text, score=score)


def run(service: GatewayService, coro_fn):
    async def body():
        try:
            return await coro_fn()
        finally:
            await service.aclose()
    return asyncio.run(body())


def test_prompt_numbers_sources_within_the_budget():
    sources = [src(1, "甲" * 40, "一"), src(2, "乙" * 40, "二"), src(3, "丙" * 40, "三")]
    prompt, kept = build_prompt(" 头痛？ ", sources, max_chars=100)  # two blocks of 45 chars + a blank line
    assert kept == sources[:2]
    instruction = WORDINGS["zh"].instruction
    assert prompt.startswith(WORDINGS["zh"].header + "\n[1] 一\n" + "甲" * 40 + "\n\n[2] 二\n")
    assert "[3]" not in prompt and prompt.endswith("问题：头痛？\n\n" + instruction)
    assert "依据" in instruction and "[编号]" in instruction and "没有涉及该问题" in instruction
    english, _ = build_prompt("Headache?", sources, max_chars=100, language="en")
    assert english.startswith(WORDINGS["en"].header + "\n[1] 一\n") and english.endswith(WORDINGS["en"].instruction)


def test_prompt_cuts_an_oversized_first_source_and_handles_none():
    prompt, kept = build_prompt("q", [src(1, "长" * 500)], max_chars=120)
    assert len(kept) == 1 and "[1] " + "长" * 50 in prompt and "长" * 200 not in prompt
    prompt, kept = build_prompt("q", [], max_chars=120)
    assert kept == [] and "没有检索到相关资料" in prompt


def test_with_prompt_replaces_text_keeps_other_parts():
    assert with_prompt({"role": "user", "content": "a", "name": "u"}, "P") == {"role": "user", "content": "P",
                                                                                "name": "u"}
    image = {"type": "image_url", "image_url": {"url": "x"}}
    out = with_prompt({"role": "user", "content": [{"type": "text", "text": "a"}, image]}, "P")
    assert out["content"] == [{"type": "text", "text": "P"}, image]


def test_request_keeps_unknown_fields_and_only_what_was_sent():
    request = ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "top_k": 5, "logprobs": True})
    assert request.upstream_payload(model="n") == {"model": "n", "messages": [{"role": "user", "content": "x"}],
                                                   "top_k": 5, "logprobs": True}


def test_payload_types_never_give_null_metadata():
    source = Source(chunk_id="c", doc_id="d", title="t", text="x" * 300, score=1.7, metadata=None)  # type: ignore
    record = DifyRecord.from_source(source)
    assert record.score == 1.0 and record.metadata == {"chunk_id": "c", "doc_id": "d"}
    shown = SourcePayload.from_source(1, source)
    assert shown.snippet.endswith("…") and len(shown.snippet) == 161


def test_service_lists_models_and_retrieves(upstream):
    service = GatewayService(upstream.url, UPSTREAM_KEY, ListRetriever(corpus()), rag_settings(model_suffix=".kb"))

    async def calls():
        models = await service.list_models()
        records = await service.retrieve("感冒", top_k=4, score_threshold=0.5)
        return [m["id"] for m in models["data"]], [r.title for r in records]

    assert run(service, calls) == (["base", "med-lora", "base.kb", "med-lora.kb"], ["感冒", "流感", "高血压"])


def test_retriever_failure_is_a_500_gateway_error(upstream):
    class Broken(ListRetriever):
        def search(self, query, k):
            raise RuntimeError("chroma went away")

    service = GatewayService(upstream.url, UPSTREAM_KEY, Broken([]), rag_settings())
    request = ChatCompletionRequest.model_validate({"model": "base-rag",
                                                    "messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(GatewayError, match="chroma went away") as caught:
        run(service, lambda: service.chat(request))
    assert caught.value.status == 500


def test_closing_the_relay_closes_the_upstream_stream(upstream):
    upstream.abandoned.clear()
    service = GatewayService(upstream.url, UPSTREAM_KEY, None, rag_settings())
    request = ChatCompletionRequest.model_validate(
        {"model": "base", "stream": True, "x_endless": True, "messages": [{"role": "user", "content": "x"}]})

    async def read_one_then_close():
        relay = await service.chat(request)
        first = await relay.__anext__()
        await relay.aclose()  # what the HTTP layer does when the client goes away
        return first

    assert run(service, read_one_then_close).startswith(b"data: ")
    assert upstream.abandoned.wait(5)
