"""The gateway's one retry: a request the upstream drops before any byte of a response (a pooled
keep-alive connection it closes as the request goes out) is sent again on a new connection; a
response that breaks off after it began is never sent again.

The upstream is a raw HTTP/1.1 server on 127.0.0.1 (asyncio streams) whose every connection follows
a script: "answer" (200 with a JSON body, connection kept alive), "drop" (read the request, close
without a byte), "cut" (200 SSE headers and one event, then close). It records what it was sent.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from serve.gateway.protocol import ChatCompletionRequest
from serve.gateway.service import GatewayError, GatewayService
from tests.serve.gateway.conftest import rag_settings

ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "model": "base",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


class ScriptedUpstream:
    def __init__(self, scripts: list[list[str]]):
        self.scripts = scripts  # per connection, in order: what to do with each request on it
        self.requests: list[tuple[int, str]] = []  # (connection number, request line)
        self.connections = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number, self.connections = self.connections, self.connections + 1
        script = self.scripts[number] if number < len(self.scripts) else ["answer"] * 100
        try:
            for step in script:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                self.requests.append((number, head.split(b"\r\n")[0].decode()))
                if step == "drop":
                    return
                if step == "cut":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                 b"transfer-encoding: chunked\r\n\r\n")
                    event = b'data: {"object": "chat.completion.chunk", "choices": []}\n\n'
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                    return
                body = json.dumps(ANSWER).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def call(scripts: list[list[str]], calls) -> tuple[ScriptedUpstream, list, list[str]]:
    """Run `calls(service)` against a scripted upstream; (upstream, results, retry notes)."""
    upstream, notes = ScriptedUpstream(scripts), []

    async def body():
        url = await upstream.start()
        service = GatewayService(url, None, None, rag_settings())
        service.on_upstream_error = notes.append
        try:
            return await calls(service)
        finally:
            await service.aclose()
            upstream.server.close()

    return upstream, asyncio.run(body()), notes


def chat(stream: bool = False) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "base", "stream": stream,
                                                 "messages": [{"role": "user", "content": "x"}]})


# POST, as every chat request is: aiohttp itself re-sends only idempotent methods (GET /models)
def test_an_idle_connection_the_upstream_closes_under_a_request_is_retried_once():
    async def twice(service):
        first = await service.chat(chat())
        second = await service.chat(chat())  # sent on the pooled connection, which the upstream drops
        return [first["choices"][0]["message"]["content"], second["choices"][0]["message"]["content"]]

    upstream, results, notes = call([["answer", "drop"], ["answer"]], twice)
    assert results == ["ok", "ok"] and notes == ["retried"]
    assert [n for n, _ in upstream.requests] == [0, 0, 1]  # the dropped request went out again, on a new connection


def test_a_request_dropped_twice_is_a_503_after_one_retry():
    async def once(service):
        with pytest.raises(GatewayError) as failed:
            await service.chat(chat())
        return failed.value.status

    upstream, status, notes = call([["drop"], ["drop"], ["answer"]], once)
    assert status == 503 and notes == ["retried", "unreachable"] and len(upstream.requests) == 2


def test_a_stream_cut_after_it_began_is_not_sent_again():
    async def stream(service):
        return [chunk async for chunk in await service.chat(chat(stream=True))]

    upstream, chunks, notes = call([["cut"], ["answer"]], stream)
    text = b"".join(chunks)
    assert text.startswith(b"data: {") and b"upstream stream broke off" in text and text.endswith(b"[DONE]\n\n")
    assert len(upstream.requests) == 1 and notes == ["broken"]  # one request only: it may be running
