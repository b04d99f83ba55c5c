"""Property tests (hypothesis) of the gateway's request models and routes: never a 5xx.

Bodies are drawn as a valid request (which must be answered 200), a valid request with one field,
top-level or inside a message, replaced by arbitrary JSON-ish junk (lone surrogates, NaN, +-Infinity,
huge numbers, wrong types, nested lists and dicts), a JSON value that is not a request at all, or
bytes that are not JSON. Each is sent over HTTP, with the key, to the shared gateway in front of the
test upstream (conftest.FakeVLLM), JSON and SSE alike. The answer is a 200 or a 4xx in OpenAI's error
shape (Dify's plus OpenAI's on /retrieval), a 400 whenever strict JSON in UTF-8 cannot carry the body,
and a 200 passes the body to vLLM exactly as sent (test_gateway_inputs.check_answer).

Bounded and repeatable for CI on two cores: EXAMPLES per HTTP test, derandomized (the same cases
on every run; a failure shows its shrunk body and repeats).
"""
from __future__ import annotations

import json
import math

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from serve.gateway.protocol import ChatCompletionRequest, DifyRetrievalRequest
from tests.serve.gateway.conftest import UPSTREAM_KEY
from tests.serve.gateway.test_gateway_inputs import CHAT_FIELDS, DIFY_FIELDS, check_answer, dumps, json_can_carry

EXAMPLES = 150
SENT = {"Authorization": f"Bearer {UPSTREAM_KEY}", "content-type": "application/json"}
# deadline off: one example is an HTTP round trip, and CI's two cores are shared
HTTP = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- strategies --------------------------------------------------------------------------------

LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "x\ud83dy", "\udc00病"])
ODD_TEXT = st.sampled_from(["", " ", "\x00", "\u200b", "😷头痛", "\\u", '"}]', "NaN", "-rag"])
# st.characters() without a codec includes the surrogate code points (st.text's default does not)
TEXT = st.one_of(st.text(st.characters(), max_size=12), LONE_SURROGATES, ODD_TEXT)
NUMBERS = st.one_of(st.integers(), st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 2 ** 64, 10 ** 30,
                                                                  -(2 ** 63) - 1, 1e308, 5e-324, 0.0, -0.0, 1.0]))
KEYS = st.one_of(TEXT, st.sampled_from(["role", "content", "type", "text", "model", "messages", "top_k"]))
JUNK = st.recursive(st.none() | st.booleans() | NUMBERS | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                    max_leaves=12)

QUESTION = st.text(st.characters(codec="utf-8"), max_size=20).map(lambda s: "头痛" + s)
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": QUESTION})


@st.composite
def valid_chats(draw) -> dict:
    """A request the gateway and the test upstream answer 200 (the last turn is the user's question)."""
    body = {"model": draw(st.sampled_from(["base", "med-lora", "base-rag", "med-lora-rag"])),
            "messages": [*draw(st.lists(MESSAGE, max_size=2)), {"role": "user", "content": draw(QUESTION)}]}
    body.update(draw(st.fixed_dictionaries({}, optional={
        "stream": st.booleans(), "max_tokens": st.integers(1, 4096), "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1), "seed": st.integers(-(2 ** 63), 2 ** 63 - 1),
        "stop": st.one_of(QUESTION, st.lists(QUESTION, max_size=2)), "n": st.integers(1, 2)})))
    if body.get("stream") and draw(st.booleans()):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    return body


DIFY_VALID = st.fixed_dictionaries(
    {"knowledge_id": st.text(st.characters(codec="utf-8"), max_size=8), "query": QUESTION,
     "retrieval_setting": st.fixed_dictionaries({"top_k": st.integers(1, 50)},
                                                optional={"score_threshold": st.floats(0, 1)})},
    optional={"metadata_condition": st.none() | st.dictionaries(st.text(max_size=4), st.text(max_size=4))})


@st.composite
def with_junk(draw, valid, fields: list[str], nested: dict[str, list[str]]) -> dict:
    """`valid` with one field, or one field of a nested object, replaced by junk."""
    body = draw(valid)
    field = draw(st.sampled_from(fields))
    if field in nested and isinstance(body.get(field), (list, dict)) and draw(st.booleans()):
        target = body[field][0] if isinstance(body[field], list) else body[field]
        target[draw(st.sampled_from(nested[field]))] = draw(JUNK)
    else:
        body[field] = draw(JUNK)
    return body


CHAT_JUNK = with_junk(valid_chats(), CHAT_FIELDS, {"messages": ["role", "content", "name", "tool_calls", "x_extra"],
                                                    "stream_options": ["include_usage", "x_extra"]})
DIFY_JUNK = with_junk(DIFY_VALID, DIFY_FIELDS, {"retrieval_setting": ["top_k", "score_threshold", "x_extra"]})

# --- the request models alone (cheap: many examples) -------------------------------------------


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=st.one_of(valid_chats(), CHAT_JUNK, JUNK), dify=st.one_of(DIFY_VALID, DIFY_JUNK, JUNK))
def test_the_models_accept_or_raise_a_validation_error_and_never_let_nan_or_surrogates_through(body, dify):
    for model, data in ((ChatCompletionRequest, body), (DifyRetrievalRequest, dify)):
        try:
            model.model_validate(data)
        except ValidationError:
            continue  # the app turns it into a 400 (app.describe_validation)
        assert json_can_carry(data), f"{model.__name__} accepted {data!r}"


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(gateway):
    """One connection pool for all examples (a new client per request costs more than the request)."""
    with httpx.Client(base_url=gateway.url, headers=SENT, timeout=10) as client:
        yield client


def post(client: httpx.Client, path: str, content: bytes) -> httpx.Response:
    with client.stream("POST", path, content=content) as reply:
        reply.read()
    return reply


@HTTP
@given(body=valid_chats())
def test_valid_chat_requests_are_answered(client, upstream, body):
    reply = post(client, "/v1/chat/completions", dumps(body))
    assert reply.status_code == 200, f"{reply.status_code} for {body!r}: {reply.text[:300]}"
    if body.get("stream"):
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        models = {json.loads(e)["model"] for e in events[:-1]}
    else:
        models = {reply.json()["model"]}
    assert models == {body["model"]}  # a -rag answer names the -rag model
    check_answer(reply, body, upstream, dify=False)


@HTTP
@given(body=st.one_of(CHAT_JUNK, JUNK))
def test_junk_in_chat_requests_is_a_4xx_never_a_5xx(client, upstream, body):
    check_answer(post(client, "/v1/chat/completions", dumps(body)), body, upstream, dify=False)


@HTTP
@given(body=DIFY_VALID)
def test_valid_retrieval_requests_are_answered(client, body):
    reply = post(client, "/retrieval", dumps(body))
    assert reply.status_code == 200, f"{reply.status_code} for {body!r}: {reply.text[:300]}"
    setting = body["retrieval_setting"]
    records = reply.json()["records"]
    assert len(records) <= setting["top_k"]
    assert all(r["score"] >= setting.get("score_threshold", 0.0) for r in records)


@HTTP
@given(body=st.one_of(DIFY_JUNK, JUNK))
def test_junk_in_retrieval_requests_is_a_4xx_never_a_5xx(client, upstream, body):
    check_answer(post(client, "/retrieval", dumps(body)), body, upstream, dify=True)


@HTTP
@given(raw=st.binary(max_size=512))
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/retrieval"])
def test_bytes_that_are_not_a_request_are_400(client, path, raw):
    reply = post(client, path, raw)
    assert reply.status_code == 400, f"{reply.status_code} for {raw!r}: {reply.text[:300]}"
    assert reply.json()["error"]["code"] == 400
