"""Malformed input is a 4xx in the route's error shape, never a 5xx and never rewritten.

The cases written out: bodies that are not JSON requests, NaN/Infinity, lone surrogates, values of
the wrong type. The generated ones are in test_gateway_properties.py (hypothesis); the helpers here
(the oracle `check_answer`, `dumps`, `mutate`) serve it and test_gateway_openapi.py.
"""
from __future__ import annotations

import json
import math
import random

import httpx
import pytest

from tests.serve.gateway.test_gateway_guard import openai_error

CHAT = {"model": "base", "messages": [{"role": "user", "content": "头痛怎么办"}]}
DIFY = {"knowledge_id": "k", "query": "感冒", "retrieval_setting": {"top_k": 2, "score_threshold": 0.0}}
CHAT_FIELDS = ["model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
               "top_p", "seed", "stop", "tools", "tool_choice", "n", "repetition_penalty", "logit_bias",
               "response_format", "x_extra"]
DIFY_FIELDS = ["knowledge_id", "query", "retrieval_setting", "metadata_condition", "x_extra"]
ODD_TEXT = ["x\ud800y", "\udfff", "\ud83d", "", " ", "\x00", "\u200b", "😷病", "a" * 300, "\\u", "\"}]", "\n\n"]
ODD_NUMBERS = [math.nan, math.inf, -math.inf, 1e308, -1e-308, 0.0, -1, 0, 2 ** 64, -(2 ** 63) - 1, 10 ** 30, 1.5]


def any_value(rng: random.Random, depth: int = 0):
    kind = rng.choice(["text", "number", "bool", "null", "list", "dict"] if depth < 3 else ["text", "number"])
    if kind == "text":
        return rng.choice(ODD_TEXT) if rng.random() < 0.6 else "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x4e00, 0x9fff), rng.randrange(0xd800, 0xe000)]))
            for _ in range(rng.randrange(0, 8)))
    if kind == "number":
        return rng.choice(ODD_NUMBERS)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [any_value(rng, depth + 1) for _ in range(rng.randrange(0, 3))]
    return {rng.choice(["role", "content", "type", "text", "top_k", "name", "\ud800", "k"]): any_value(rng, depth + 1)
            for _ in range(rng.randrange(0, 3))}


def mutate(rng: random.Random, body: dict, fields: list[str]) -> dict:
    body = json.loads(json.dumps(body))
    field = rng.choice(fields)
    if field == "messages" and rng.random() < 0.6:  # inside a message rather than the whole list
        body["messages"][0][rng.choice(["role", "content", "name", "x_extra"])] = any_value(rng)
    elif field == "retrieval_setting" and rng.random() < 0.6:
        body["retrieval_setting"][rng.choice(["top_k", "score_threshold", "x_extra"])] = any_value(rng)
    else:
        body[field] = any_value(rng)
    return body


RAW_BODIES = [b"", b"null", b"[]", b"42", b'"x"', b"{", b'{"model": "base", "messages": [', b"\xff\xfe{}",
              b'{"model": "b\xc3"}', b"[" * 5000 + b"]" * 5000, b'{"a": ' * 400 + b"1" + b"}" * 400,
              b'{"model": "base", "messages": [{"role": "user", "content": "x\\ud800y"}]}',
              b'{"model": "base", "repetition_penalty": NaN, "messages": [{"role": "user", "content": "x"}]}',
              b'{"model": "base", "temperature": Infinity, "messages": [{"role": "user", "content": "x"}]}',
              b'{"model": "base", "top_k": -Infinity, "messages": [{"role": "user", "content": "x"}]}']


def dumps(body) -> bytes:
    return json.dumps(body, allow_nan=True).encode()  # what a careless client sends: NaN, \ud800 escapes


def json_can_carry(body) -> bool:
    """The oracle: strict JSON (no NaN/Infinity) in UTF-8 (no lone surrogates) can hold `body` as the
    server reads it (two surrogate escapes in a row may form a valid pair on the wire)."""
    try:
        json.dumps(json.loads(dumps(body)), allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return True


def check_answer(reply: httpx.Response, sent, upstream, dify: bool) -> None:
    assert reply.status_code < 500, f"{reply.status_code} for {sent!r}: {reply.text[:300]}"
    if not json_can_carry(sent):
        assert reply.status_code == 400, f"{reply.status_code} for {sent!r}: {reply.text[:300]}"
    if reply.status_code >= 400:
        openai_error(reply, reply.status_code)  # the gateway's own or vLLM's: OpenAI's shape, code = status
        if dify:
            assert reply.json()["error_code"] == 2001
        return
    if not dify and isinstance(sent, dict) and not sent["model"].endswith("-rag"):
        forwarded = upstream.requests[-1]  # passed through untouched: nothing rewritten, nothing lost
        assert json.dumps(forwarded, sort_keys=True) == json.dumps(sent, sort_keys=True)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/retrieval"])
@pytest.mark.parametrize("raw", RAW_BODIES, ids=range(len(RAW_BODIES)))
def test_bodies_that_are_not_valid_json_requests_are_400(gateway, auth, path, raw):
    reply = httpx.post(f"{gateway.url}{path}", content=raw, headers={**auth, "content-type": "application/json"})
    assert reply.status_code in (400, 413), reply.text[:300]  # the nesting cases exceed max_body_bytes
    openai_error(reply, reply.status_code)


@pytest.mark.parametrize("field,value,shown", [
    ("repetition_penalty", "NaN", "NaN"), ("temperature", "Infinity", "Infinity"),
    ("top_k", "-Infinity", "-Infinity"), ("logit_bias", '{"11": NaN}', "NaN")])
@pytest.mark.parametrize("model", ["base", "base-rag"])
def test_nan_and_infinity_are_refused_as_vllm_does_never_rewritten(gateway, upstream, auth, field, value, shown,
                                                                   model):
    before = len(upstream.requests)
    raw = ('{"model": "%s", "%s": %s, "messages": [{"role": "user", "content": "x"}]}' % (model, field, value))
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", content=raw.encode(),
                       headers={**auth, "content-type": "application/json"})
    error = openai_error(reply, 400)
    assert error["param"].startswith(field) and shown in error["message"]
    assert len(upstream.requests) == before  # nothing reached vLLM


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["base", "base-rag"])
def test_a_lone_surrogate_is_400_naming_the_field(gateway, auth, model, stream):
    raw = ('{"model": "%s", "stream": %s, "messages": [{"role": "user", "content": "x\\ud800y"}]}'
           % (model, "true" if stream else "false"))
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", content=raw.encode(),
                       headers={**auth, "content-type": "application/json"})
    error = openai_error(reply, 400)
    assert error["param"] == "messages.0.content" and "lone surrogate" in error["message"]


@pytest.mark.parametrize("field,value", [("stream", '"true"'), ("stream", "1"), ("max_tokens", "true"),
                                         ("max_tokens", '"8"'), ("max_tokens", "8.5"), ("temperature", '"0.5"'),
                                         ("seed", "false")])
def test_values_of_the_wrong_type_are_400_not_coerced(gateway, upstream, auth, field, value):
    """The body reaches vLLM as sent, so a value the gateway would coerce is not the one vLLM gets."""
    before = len(upstream.requests)
    raw = '{"model": "base", "%s": %s, "messages": [{"role": "user", "content": "x"}]}' % (field, value)
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", content=raw.encode(),
                       headers={**auth, "content-type": "application/json"})
    assert openai_error(reply, 400)["param"] == field
    assert len(upstream.requests) == before


def test_a_whole_float_is_an_integer_and_is_passed_on_as_sent(gateway, upstream, auth):
    raw = b'{"model": "base", "max_tokens": 8.0, "messages": [{"role": "user", "content": "x"}]}'
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", content=raw,
                       headers={**auth, "content-type": "application/json"})
    assert reply.status_code == 200, reply.text
    assert upstream.requests[-1]["max_tokens"] == 8.0 and isinstance(upstream.requests[-1]["max_tokens"], float)
