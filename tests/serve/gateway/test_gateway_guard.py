"""Auth, input limits, upstream failures, client disconnects, readiness and metrics."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.serve.gateway.conftest import ListRetriever, corpus, dead_url

CHAT = {"model": "base", "messages": [{"role": "user", "content": "头痛怎么办"}]}


def openai_error(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["code"] == status
    return error


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic dXNlcjpwYXNz", "Bearer"])
@pytest.mark.parametrize("method,path", [("GET", "/v1/models"), ("POST", "/v1/chat/completions")])
def test_v1_routes_need_the_key(gateway, header, method, path):
    headers = {"Authorization": header} if header else {}
    reply = httpx.request(method, f"{gateway.url}{path}", headers=headers, json=CHAT)
    assert openai_error(reply, 401)["type"] == "authentication_error"
    assert reply.headers["www-authenticate"] == "Bearer"


def test_only_liveness_is_open_and_ready_says_no_more_without_the_key(gateway, auth):
    assert httpx.get(f"{gateway.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{gateway.url}/ready").json() == {"status": "ready"}  # no URL, models, index names
    assert "checks" in httpx.get(f"{gateway.url}/ready", headers=auth).json()
    assert httpx.get(f"{gateway.url}/ready", headers={"Authorization": "Bearer wrong"}).json() == {"status": "ready"}
    openai_error(httpx.get(f"{gateway.url}/metrics"), 401)
    assert httpx.get(f"{gateway.url}/metrics", headers=auth).status_code == 200
    openai_error(httpx.get(f"{gateway.url}/openapi.json"), 401)
    openai_error(httpx.get(f"{gateway.url}/no/such/route"), 401)  # unknown paths reveal nothing either


@pytest.mark.parametrize("header,code", [(None, 1001), ("Token abc", 1001), ("Bearer", 1001),
                                         ("Bearer wrong-key", 1002)])
def test_dify_retrieval_auth_codes(gateway, header, code):
    headers = {"Authorization": header} if header else {}
    reply = httpx.post(f"{gateway.url}/retrieval", headers=headers, content=b"")
    assert reply.status_code == 403  # what Dify's registration check reports as an authorization failure
    assert reply.json()["error_code"] == code and reply.json()["error_msg"]


def test_no_key_configured_means_no_auth(start_gateway):
    open_gateway = start_gateway(api_key=None)
    assert httpx.post(f"{open_gateway.url}/v1/chat/completions", json=CHAT).status_code == 200


@pytest.mark.parametrize("content,param", [
    (b'{"model": "base", "messages": [', None),                                    # malformed JSON
    (b'{"model": "base", "messages": []}', "messages"),                             # empty messages
    (b'{"model": "base"}', "messages"),                                             # missing messages
    (b'{"model": "base", "messages": "hi"}', "messages"),                           # wrong type
    (b'{"model": "base", "messages": [{"role": "wizard", "content": "x"}]}', "messages.0.role"),
    (b'{"model": "base", "temperature": "hot", "messages": [{"role": "user", "content": "x"}]}', "temperature"),
    (b'{"model": "base", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}', "max_tokens"),
    (b'', None),                                                                    # empty body
])
def test_bad_chat_input_is_400_in_openai_shape(gateway, auth, content, param):
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", content=content,
                       headers={**auth, "content-type": "application/json"})
    error = openai_error(reply, 400)
    assert error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param and param.split(".")[0] in error["message"]


def test_body_over_the_limit_is_413(gateway, auth):
    big = {**CHAT, "messages": [{"role": "user", "content": "痛" * 5000}]}  # max_body_bytes = 4096
    openai_error(httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth, json=big), 413)

    def chunked():  # no content-length: the limit must hold while reading
        yield b'{"model": "base", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    openai_error(httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth, content=chunked()), 413)


def test_dify_retrieval_contract(gateway, auth):
    def ask(top_k, threshold=None):
        setting = {"top_k": top_k, **({"score_threshold": threshold} if threshold is not None else {})}
        return httpx.post(f"{gateway.url}/retrieval", headers=auth, json={
            "knowledge_id": "anything-goes", "query": "感冒", "retrieval_setting": setting,
            "metadata_condition": {"logical_operator": "and", "conditions": []}})

    reply = ask(3)
    assert reply.status_code == 200
    records = reply.json()["records"]
    assert [r["title"] for r in records] == ["感冒", "流感", "高血压"]
    for record in records:
        assert set(record) == {"content", "score", "title", "metadata"}
        assert 0 <= record["score"] <= 1 and isinstance(record["metadata"], dict)
    assert records[0]["content"].startswith("感冒多由鼻病毒引起") and records[0]["metadata"]["doc_id"] == "d0"
    assert [r["title"] for r in ask(5, 0.5).json()["records"]] == ["感冒", "流感", "高血压"]
    assert ask(5, 0.99).json() == {"records": []}


@pytest.mark.parametrize("content", [b"", b"{}", b'{"knowledge_id": "k", "query": "q", "retrieval_setting": {}}',
                                     b'{"knowledge_id": "k", "query": "q", "retrieval_setting": {"top_k": 0}}',
                                     b'{"knowledge_id": "k", "query": "q", "retrieval_setting": {"top_k": 51}}'])
def test_dify_bad_bodies_are_400_never_404(gateway, auth, content):
    reply = httpx.post(f"{gateway.url}/retrieval", headers={**auth, "content-type": "application/json"},
                       content=content)
    assert reply.status_code == 400  # Dify registers the endpoint with an empty body: 400 = it exists
    body = reply.json()
    assert body["error_code"] == 2001 and body["error_msg"]
    openai_error(reply, 400)


def test_dify_retrieval_without_index_is_2001(start_gateway, auth):
    plain = start_gateway(retriever=None)
    reply = httpx.post(f"{plain.url}/retrieval", headers=auth,
                       json={"knowledge_id": "k", "query": "q", "retrieval_setting": {"top_k": 2}})
    assert reply.status_code == 404 and reply.json()["error_code"] == 2001


def test_upstream_down_is_503_and_gateway_stays_up(start_gateway, auth):
    orphan = start_gateway(upstream_url=dead_url())
    for body in (CHAT, {**CHAT, "stream": True}, {**CHAT, "model": "base-rag"}):
        error = openai_error(httpx.post(f"{orphan.url}/v1/chat/completions", headers=auth, json=body), 503)
        assert "not reachable" in error["message"] and "make serve" in error["message"]
    openai_error(httpx.get(f"{orphan.url}/v1/models", headers=auth), 503)
    assert httpx.get(f"{orphan.url}/health").status_code == 200
    ready = httpx.get(f"{orphan.url}/ready", headers=auth)
    assert ready.status_code == 503 and ready.json()["checks"]["upstream"]["ok"] is False
    metrics = httpx.get(f"{orphan.url}/metrics", headers=auth).text
    assert 'medkit_gateway_upstream_errors_total{kind="unreachable"} 4.0' in metrics  # not the /ready probe


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_4xx_is_passed_through(gateway, upstream, auth, stream):
    body = {**CHAT, "model": "no-such-model", "stream": stream}
    reply = httpx.post(f"{gateway.url}/v1/chat/completions", headers=auth, json=body)
    direct = httpx.post(f"{upstream.url}/chat/completions", headers=auth, json=body)
    assert reply.status_code == direct.status_code == 404
    assert reply.content == direct.content


def test_client_disconnect_closes_the_upstream_stream(gateway, upstream, auth):
    upstream.abandoned.clear()
    body = {**CHAT, "stream": True, "x_endless": True}  # the test upstream streams for 20 s
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=auth, json=body) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()
        assert next(lines).startswith("data: ")
        assert next(line for line in lines if line.startswith("data: "))
    # leaving the block closed the connection to the gateway
    assert upstream.abandoned.wait(5), "the gateway kept reading the upstream stream after the client left"


@pytest.mark.parametrize("model", ["base", "base-rag"])
def test_client_giving_up_on_a_json_answer_cancels_the_upstream_request(start_gateway, upstream, auth, model):
    fresh = start_gateway()
    upstream.abandoned_wait.clear()
    with pytest.raises(httpx.ReadTimeout):  # the test upstream takes 20 s to answer
        httpx.post(f"{fresh.url}/v1/chat/completions", headers=auth, timeout=0.5,
                   json={**CHAT, "model": model, "x_slow": True})
    assert upstream.abandoned_wait.wait(5), "the gateway kept waiting on upstream after the client left"
    deadline = time.time() + 2
    while 'route="/v1/chat/completions",status="499"' not in (
            text := httpx.get(f"{fresh.url}/metrics", headers=auth).text):
        assert time.time() < deadline, text
        time.sleep(0.01)
    assert httpx.get(f"{fresh.url}/health").status_code == 200


def test_upstream_breaking_mid_stream_ends_the_stream_with_an_error_event(start_gateway, auth):
    fresh = start_gateway()
    with httpx.stream("POST", f"{fresh.url}/v1/chat/completions", headers=auth,
                      json={**CHAT, "stream": True, "x_crash": True}) as reply:
        assert reply.status_code == 200  # sent before the upstream broke
        data = [line[6:] for line in reply.iter_lines() if line.startswith("data: ")]
    assert '"半"' in data[0] and "broke off" in data[1] and data[-1] == "[DONE]"
    metrics = httpx.get(f"{fresh.url}/metrics", headers=auth).text
    assert 'medkit_gateway_upstream_errors_total{kind="broken"} 1.0' in metrics


def test_ready_checks_upstream_and_retriever(gateway, start_gateway, auth):
    reply = httpx.get(f"{gateway.url}/ready", headers=auth)
    assert reply.status_code == 200
    checks = reply.json()["checks"]
    assert checks["upstream"]["models"] == ["base", "med-lora"] and checks["retriever"]["chunks"] == 5
    broken = start_gateway(retriever=ListRetriever(corpus(), fail_describe=True))
    reply = httpx.get(f"{broken.url}/ready", headers=auth)
    assert reply.status_code == 503 and "collection medkit-test is gone" in reply.json()["checks"]["retriever"]["error"]


def test_metrics_count_requests_latency_and_retrieval(start_gateway, auth):
    fresh = start_gateway()
    httpx.post(f"{fresh.url}/v1/chat/completions", headers=auth, json={**CHAT, "model": "base-rag"})
    httpx.post(f"{fresh.url}/v1/chat/completions", json=CHAT)  # 401
    httpx.get(f"{fresh.url}/no/such/route", headers=auth)
    deadline = time.time() + 2  # the middleware records just after the last byte is sent
    while 'route="other",status="404"' not in (text := httpx.get(f"{fresh.url}/metrics", headers=auth).text):
        assert time.time() < deadline
        time.sleep(0.01)
    assert 'medkit_gateway_requests_total{route="/v1/chat/completions",status="200"} 1.0' in text
    assert 'medkit_gateway_requests_total{route="/v1/chat/completions",status="401"} 1.0' in text
    assert 'medkit_gateway_requests_total{route="other",status="404"} 1.0' in text
    assert 'medkit_gateway_request_seconds_count{route="/v1/chat/completions"} 2.0' in text
    assert "medkit_gateway_retrieval_seconds_count 1.0" in text
    assert "# TYPE medkit_gateway_upstream_errors_total counter" in text
