"""Follow-up questions: the retrieval query uses the conversation (rag.retrieval.follow_up)."""
from __future__ import annotations

import httpx
import pytest

from core.recipe.schema import RagSection
from serve.gateway import follow_up
from tests.serve.gateway.conftest import ANSWER, UPSTREAM_KEY, ListRetriever, corpus

FIRST = "布洛芬能用来退烧吗？"
REPLY = "可以，布洛芬是常用的退烧药。"
FOLLOW = "那孩子可以吃吗？"
CONVERSATION = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": REPLY},
                {"role": "user", "content": FOLLOW}]


def test_rules_join_earlier_user_turns_only_for_a_follow_up():
    assert follow_up.rules_query([FIRST, FOLLOW]) == f"{FIRST} {FOLLOW}"
    standalone = "高血压患者长期服用氨氯地平，需要定期复查哪些项目，饮食上又要注意什么？"
    assert follow_up.rules_query([FIRST, standalone]) == standalone        # long, no referring word
    assert follow_up.rules_query(["a", "b", "c", FOLLOW]) == f"b c {FOLLOW}"  # two earlier turns at most
    assert follow_up.rules_query(["What is ibuprofen used for?",
                                  "What about children under six, is the dose different?"]).startswith("What is")
    assert follow_up.rules_query([FOLLOW]) == FOLLOW
    assert follow_up.rules_query(["你好", "感冒是什么引起的？"]) == "感冒是什么引起的？"  # short but standalone
    assert follow_up.rules_query([FIRST, "孕妇呢？"]) == f"{FIRST} 孕妇呢？"
    assert follow_up.rules_query([FIRST, "小孩发烧时吃它要注意剂量吗？"]).startswith(FIRST)


def test_rewritten_query_takes_the_first_line():
    assert follow_up.rewritten_query("\n用户：儿童能否服用布洛芬退烧？\n解释……") == "儿童能否服用布洛芬退烧？"
    assert follow_up.rewritten_query("  \n") == ""


def settings(mode: str) -> RagSection:
    return RagSection(retrieval={"top_k": 2, "context_k": 4, "max_context_chars": 1000, "follow_up": mode},
                      gateway={"upstream_timeout_s": 10})


def ask(served, model: str = "med-lora-rag") -> httpx.Response:
    return httpx.post(f"{served.url}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {UPSTREAM_KEY}"},
                      json={"model": model, "messages": CONVERSATION, "max_tokens": 16})


@pytest.mark.parametrize("mode, expected", [("rules", f"{FIRST} {FOLLOW}"), ("last", FOLLOW)])
def test_the_query_of_a_follow_up(start_gateway, upstream, mode, expected):
    served = start_gateway(retriever=ListRetriever(corpus()), settings=settings(mode))
    sent_before = len(upstream.requests)
    reply = ask(served)
    assert reply.status_code == 200 and reply.json()["sources"]
    assert served.retriever.queries[-1][0] == expected
    # no model call for the query; the prompt keeps the user's own follow-up as the question
    assert len(upstream.requests) == sent_before + 1
    assert f"问题：{FOLLOW}" in upstream.requests[-1]["messages"][-1]["content"]


def test_the_model_rewrites_the_query_and_a_failed_rewrite_falls_back_to_rules(start_gateway, upstream):
    served = start_gateway(retriever=ListRetriever(corpus()), settings=settings("model"))
    assert ask(served).status_code == 200
    rewrite = upstream.requests[-2]  # the rewrite call, then the answer
    assert rewrite["model"] == "med-lora" and rewrite["temperature"] == 0
    assert FIRST in rewrite["messages"][0]["content"] and follow_up.REWRITE_INSTRUCTION in rewrite["messages"][0]["content"]
    assert served.retriever.queries[-1][0] == ANSWER  # the fake upstream's answer is the rewritten question
    # an upstream that cannot rewrite (unknown model: 404): the rules' query, and the request's own error
    assert ask(served, model="nope-rag").status_code == 404
    assert served.retriever.queries[-1][0] == f"{FIRST} {FOLLOW}"
