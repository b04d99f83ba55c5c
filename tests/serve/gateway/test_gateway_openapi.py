"""The OpenAPI document says what the gateway really answers (conformance checks written by hand).

schemathesis runs its own checks in test_gateway_schemathesis.py; these add the requests it does
not send, bounded: every documented operation is called without the key, with a wrong key, with a
valid body, with no body, with an oversized body (this gateway allows 4096 bytes) and with generated
bodies; every answer's status must be documented for that operation, its media type documented for
that status, and its JSON body valid against the documented schema (jsonschema, Draft 2020-12).
"""
from __future__ import annotations

import json
import random

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.serve.gateway.test_gateway_inputs import CHAT, CHAT_FIELDS, DIFY, DIFY_FIELDS, dumps, mutate

GENERATED = 40  # generated bodies per POST operation


@pytest.fixture(scope="module")
def spec(gateway):
    return httpx.get(f"{gateway.url}/openapi.json",
                     headers={"Authorization": f"Bearer {gateway_key()}"}).json()


def gateway_key() -> str:
    from tests.serve.gateway.conftest import UPSTREAM_KEY
    return UPSTREAM_KEY


def conforms(spec: dict, path: str, method: str, reply: httpx.Response) -> None:
    operation = spec["paths"][path][method]
    documented = operation["responses"]
    status = str(reply.status_code)
    assert status in documented, f"{method.upper()} {path} answered {status}, documented {sorted(documented)}"
    media = reply.headers.get("content-type", "").split(";")[0].strip()
    content = documented[status].get("content", {})
    assert media in content, f"{method.upper()} {path} {status} sent {media}, documented {list(content)}"
    schema = content[media].get("schema")
    if media == "application/json" and schema:
        validator = Draft202012Validator({**schema, "components": spec["components"]})
        errors = [e.message for e in validator.iter_errors(reply.json())]
        assert not errors, f"{method.upper()} {path} {status}: {errors[:3]} in {reply.text[:300]}"


def operations(spec: dict) -> list[tuple[str, str]]:
    return [(path, method) for path, ops in spec["paths"].items() for method in ops]


def test_document_is_truthful_about_statuses_and_types(spec):
    assert "422" not in json.dumps(spec["paths"]) and "HTTPValidationError" not in json.dumps(spec)
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert {"400", "401", "404", "413", "503"} <= set(chat["responses"])
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    retrieval = spec["paths"]["/retrieval"]["post"]
    assert {"400", "403", "404", "413", "503"} <= set(retrieval["responses"])
    body = retrieval["requestBody"]
    assert body["required"] is True and "anyOf" not in json.dumps(body)  # the body is not nullable
    assert list(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_key_is_documented_as_required_exactly_when_one_is_configured(spec, start_gateway):
    guarded = [(path, method) for path, method in operations(spec) if path not in ("/health", "/ready")]
    assert all(spec["paths"][path][method]["security"] == [{"bearer": []}] for path, method in guarded)
    assert all("security" not in spec["paths"][path]["get"] for path in ("/health", "/ready"))
    unkeyed = httpx.get(f"{start_gateway(api_key=None).url}/openapi.json").json()
    assert all("security" not in unkeyed["paths"][path][method] for path, method in operations(unkeyed))


@pytest.mark.slow
def test_every_operation_answers_only_what_it_documents(gateway, spec, auth):
    rng = random.Random("openapi")
    seeds = {"/v1/chat/completions": (CHAT, CHAT_FIELDS), "/retrieval": (DIFY, DIFY_FIELDS)}
    checked = 0
    for path, method in operations(spec):
        url = f"{gateway.url}{path}"
        headers_list = [{}, {"Authorization": "Bearer wrong"}, auth]
        for headers in headers_list:
            if method == "get":
                reply = httpx.get(url, headers=headers)
                conforms(spec, path, method, reply)
                checked += 1
                continue
            valid, fields = seeds[path]
            bodies = [dumps(valid), b"", b"{", dumps({}), b"x" * 5000]  # 5000 > max_body_bytes 4096
            if headers is auth:
                bodies += [dumps(mutate(rng, valid, fields)) for _ in range(GENERATED)]
                bodies += [dumps({**valid, "stream": True})] if path == "/v1/chat/completions" else []
            for body in bodies:
                reply = httpx.post(url, content=body, headers={**headers, "content-type": "application/json"})
                conforms(spec, path, method, reply)
                checked += 1
    assert checked > 2 * GENERATED


def test_undocumented_answers_are_caught(gateway, spec, auth):
    """The checker itself: a status the operation does not document fails it."""
    reply = httpx.get(f"{gateway.url}/health")
    spec = json.loads(json.dumps(spec))
    spec["paths"]["/health"]["get"]["responses"] = {"204": {"description": "no"}}
    with pytest.raises(AssertionError, match="answered 200"):
        conforms(spec, "/health", "get", reply)
