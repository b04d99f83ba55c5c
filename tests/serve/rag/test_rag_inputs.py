"""Odd text through the real retriever (MiniLM, Chroma, jieba + bm25s) behind a real gateway.

A lone surrogate used to reach the embedder's tokenizer and come back as a 500 "retrieval failed:
TypeError"; it is a 400 before retrieval now. Every valid string, however odd, is searched.
"""
from __future__ import annotations

import random

import httpx
import pytest

from serve.rag.retriever import open_retriever
from tests.serve.rag.test_rag_consistency import AUTH, RAG, build

ODD = ["\x00", "\u200b\u200b", "😷" * 50, "e\u0301" * 30, "\ufeff高血压", "\r\n\t", "a" * 3000, "ǅ", "\U0010fffd",
       "<script>", "' OR 1=1 --", "%s%n", "\\u0000", "１２３", "高" * 500, "  ", "？！。"]
CASES = 20


def odd_text(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(ODD)
    pool = [rng.randrange(1, 0xd800), rng.randrange(0xe000, 0x110000), rng.randrange(0x4e00, 0x9fff)]
    return "".join(chr(rng.choice(pool)) for _ in range(rng.randrange(1, 40)))


@pytest.fixture(scope="module")
def rag_gateway(tmp_path_factory, embedder):
    from serve.gateway.app import create_app
    from serve.gateway.service import GatewayService
    from tests.conftest import Served
    from tests.serve.gateway.conftest import UPSTREAM_KEY, FakeVLLM

    tmp = tmp_path_factory.mktemp("rag-inputs")
    build(tmp, embedder)
    retriever = open_retriever(RAG, tmp / "index", embedder=embedder)
    upstream = FakeVLLM()
    up = Served(upstream.app())
    upstream.url = up.url + "/v1"
    gw = Served(create_app(GatewayService(upstream.url, UPSTREAM_KEY, retriever, RAG), UPSTREAM_KEY, RAG.gateway))
    yield gw.url, retriever
    gw.stop()
    up.stop()
    retriever.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_lone_surrogate_in_a_rag_question_is_400_not_500(rag_gateway, stream):
    url, _ = rag_gateway
    raw = '{"model": "base-rag", "stream": %s, "messages": [{"role": "user", "content": "x\\ud800y"}]}' % (
        "true" if stream else "false")
    reply = httpx.post(f"{url}/v1/chat/completions", content=raw.encode(),
                       headers={**AUTH, "content-type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == "messages.0.content"
    dify = httpx.post(f"{url}/retrieval", headers={**AUTH, "content-type": "application/json"},
                      content=b'{"knowledge_id": "k", "query": "\\udc00", "retrieval_setting": {"top_k": 2}}')
    assert dify.status_code == 400 and dify.json()["error_code"] == 2001 and "query" in dify.json()["error_msg"]


def test_any_valid_text_is_searched_and_answered(rag_gateway):
    url, retriever = rag_gateway
    rng = random.Random("odd-text")
    for _ in range(CASES):
        text = odd_text(rng)
        assert isinstance(retriever.search(text, 3), list)
        reply = httpx.post(f"{url}/v1/chat/completions", headers=AUTH, timeout=30,
                           json={"model": "base-rag", "messages": [{"role": "user", "content": text}]})
        assert reply.status_code in (200, 400, 413), f"{reply.status_code} for {text!r}: {reply.text[:200]}"
        if reply.status_code == 400:  # only a question with no text left is refused
            assert not text.strip()
