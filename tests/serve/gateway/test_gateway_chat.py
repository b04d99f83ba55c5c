"""Chat through a real gateway in front of a real (test) OpenAI-compatible upstream."""
from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.serve.gateway.conftest import ANSWER, UPSTREAM_KEY

PING = {"max_tokens": 5, "messages": [{"role": "user", "content": "ping"}]}
ASK = [{"role": "system", "content": "你是一名医生。"},
       {"role": "user", "content": "你好"},
       {"role": "assistant", "content": "你好，请问有什么不舒服？"},
       {"role": "user", "content": "感冒是什么引起的？"}]


def events(raw: bytes) -> list[str]:
    """The data: payloads of an SSE body, in order."""
    return [line[len("data: "):] for line in raw.decode().split("\n\n") if line.startswith("data: ")]


def stream_bytes(url: str, body: dict, headers: dict) -> tuple[int, bytes]:
    with httpx.stream("POST", url, json=body, headers=headers, timeout=10) as reply:
        return reply.status_code, reply.read()


def test_models_lists_rag_variants(gateway, auth):
    reply = httpx.get(f"{gateway.url}/v1/models", headers=auth)
    assert reply.status_code == 200
    ids = [m["id"] for m in reply.json()["data"]]
    assert ids == ["base", "med-lora", "base-rag", "med-lora-rag"]
    assert reply.json()["data"][3]["parent"] == "med-lora"


def test_models_without_retriever_are_upstream_only(start_gateway, auth):
    plain = start_gateway(retriever=None)
    assert [m["id"] for m in httpx.get(f"{plain.url}/v1/models", headers=auth).json()["data"]] == ["base", "med-lora"]
    reply = httpx.post(f"{plain.url}/v1/chat/completions", headers=auth, json={"model": "base-rag", **PING})
    assert reply.status_code == 404 and "index" in reply.json()["error"]["message"]


def test_plain_passthrough_non_stream(gateway, upstream, auth):
    body = {"model": "med-lora", "messages": ASK, "temperature": 0.2, "repetition_penalty": 1.1,
            "top_k": 20, "chat_template_kwargs": {"enable_thinking": False}}
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth, json=body)
    assert reply.status_code == 200
    assert reply.json() == httpx.post(f"{upstream.url}/chat/completions", headers=auth, json=body).json()
    assert upstream.requests[-2] == body  # unknown OpenAI/vLLM fields pass through, nothing added
    assert "sources" not in reply.json()


def test_plain_stream_is_relayed_byte_for_byte(gateway, upstream, auth):
    body = {"model": "base", "messages": ASK, "stream": True, "stream_options": {"include_usage": True}}
    status, via_gateway = stream_bytes(f"{gateway.url}/v1/chat/completions", body, auth)
    _, direct = stream_bytes(f"{upstream.url}/chat/completions", body, auth)
    assert status == 200
    assert via_gateway == direct
    assert upstream.requests[-2] == body


def test_rag_non_stream_has_sources_and_numbered_prompt(gateway, upstream, auth):
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth,
                       json={"model": "base-rag", "messages": ASK, "max_tokens": 64})
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["object"] == "chat.completion" and answer["model"] == "base-rag"
    assert answer["choices"][0]["message"]["content"] == ANSWER
    assert [(s["index"], s["title"]) for s in answer["sources"]] == [(1, "感冒"), (2, "流感")]  # top_k = 2
    first = answer["sources"][0]
    assert first["score"] == pytest.approx(0.92) and first["metadata"]["doc_id"] == "d0"
    assert first["snippet"].startswith("感冒多由鼻病毒引起")
    sent = upstream.requests[-1]
    assert sent["model"] == "base" and sent["max_tokens"] == 64
    assert sent["messages"][:3] == ASK[:3]  # system message and history kept
    prompt = sent["messages"][3]["content"]
    assert "[1] 感冒\n感冒多由鼻病毒引起， 表现为鼻塞、流涕。" in prompt
    assert "[4] 糖尿病\n糖尿病需要监测血糖。" in prompt  # context_k = 4 sources given to the model
    assert "[5]" not in prompt
    assert "问题：感冒是什么引起的？" in prompt and "[编号]" in prompt and "没有涉及该问题" in prompt
    assert gateway.retriever.queries[-1] == ("感冒是什么引起的？", 4)


def test_rag_stream_first_chunk_has_sources_and_ends_with_done(gateway, auth):
    status, raw = stream_bytes(f"{gateway.url}/v1/chat/completions",
                               {"model": "base-rag", "messages": ASK, "stream": True}, auth)
    assert status == 200
    data = events(raw)
    first = json.loads(data[0])
    assert first["object"] == "chat.completion.chunk"
    assert {json.loads(d)["model"] for d in data[:-1]} == {"base-rag"}  # every chunk names the model asked for
    assert [s["index"] for s in first["sources"]] == [1, 2]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "usage" not in first
    assert data[-1] == "[DONE]"
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for d in data[1:-1])
    assert text == ANSWER
    assert all("usage" not in json.loads(d) for d in data[1:-1])


@pytest.mark.parametrize("model", ["base", "base-rag"])
def test_include_usage_is_honoured(gateway, auth, model):
    body = {"model": model, "messages": ASK, "stream": True, "stream_options": {"include_usage": True}}
    data = events(stream_bytes(f"{gateway.url}/v1/chat/completions", body, auth)[1])
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 18
    assert all(c["usage"] is None for c in chunks[:-1])  # OpenAI: usage null on every other chunk


@pytest.mark.parametrize("model", ["base", "base-rag", "med-lora-rag"])
def test_dify_provider_validation_ping(gateway, auth, model):
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth, json={"model": model, **PING})
    assert reply.status_code == 200
    assert reply.json()["object"] == "chat.completion"


def test_openai_client_through_the_gateway(gateway):
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=UPSTREAM_KEY, max_retries=0)
    assert "base-rag" in [m.id for m in client.models.list()]
    chunks = list(client.chat.completions.create(model="base", messages=ASK, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].usage.total_tokens == 18
    rag = list(client.chat.completions.create(model="base-rag", messages=ASK, stream=True))
    assert [s["title"] for s in rag[0].model_extra["sources"]] == ["感冒", "流感"]
    assert "".join(c.choices[0].delta.content or "" for c in rag if c.choices) == ANSWER
    whole = client.chat.completions.create(model="base-rag", messages=ASK, max_tokens=5)
    assert whole.choices[0].message.content == ANSWER and len(whole.model_extra["sources"]) == 2


def test_rag_keeps_image_parts_and_needs_a_user_message(gateway, upstream, auth):
    parts = [{"type": "text", "text": "感冒"}, {"type": "image_url", "image_url": {"url": "data:,"}}]
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth,
                       json={"model": "base-rag", "messages": [{"role": "user", "content": parts}]})
    assert reply.status_code == 200
    content = upstream.requests[-1]["messages"][0]["content"]
    assert content[0]["type"] == "text" and "问题：感冒" in content[0]["text"] and content[1] == parts[1]
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth,
                       json={"model": "base-rag", "messages": [{"role": "system", "content": "x"}]})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "messages"
