"""The soak script's judge of a stream: what counts as complete, cut, refused, lost or garbled."""
from __future__ import annotations

import json

import pytest

from bench.soak import classify, summarise


def event(payload) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n"


CHUNK = {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "x"}}]}
ERROR = {"error": {"message": "upstream stream broke off", "type": "bad_gateway", "param": None, "code": 502}}
DONE = event(b"[DONE]")


@pytest.mark.parametrize("status,body,done,kind", [
    (200, event(CHUNK) * 3 + DONE, True, "complete"),
    (200, event(CHUNK) + event(ERROR) + DONE, True, "error_event"),
    (200, event(CHUNK) * 2, False, "lost"),
    (200, event(CHUNK) + b"data: {not json\n\n" + DONE, True, "garbled"),
    (200, event({"object": "something else"}) + DONE, True, "garbled"),
    (200, b"hello\n\n" + DONE, True, "garbled"),
    (503, json.dumps({"error": {"message": "not reachable", "type": "x", "param": None, "code": 503}}).encode(),
     False, "http_error"),
    (503, b"<html>Service Unavailable</html>", False, "garbled"),
])
def test_classify(status, body, done, kind):
    assert classify(status, body, done) == kind


def test_summary_counts_cut_streams_refusals_and_recovery():
    kill = 100.0
    results = [{"started": 90, "ended": 95, "kind": "complete", "status": 200},
               {"started": 98, "ended": 100.05, "kind": "error_event", "status": 200},  # cut by the kill
               {"started": 101, "ended": 101.01, "kind": "http_error", "status": 503},  # refused while down
               {"started": 150, "ended": 152, "kind": "complete", "status": 200}]       # recovered
    s = summarise(results, kill, {"seconds": 40.0, "leftovers": [7, 8]}, t0=80.0)
    assert (s["requests"], s["complete"], s["error_event"], s["http_error"], s["lost"]) == (4, 2, 1, 1, 0)
    assert s["in_flight_at_kill"] == 1 and s["cut_stream_end_ms_after_kill"]["max"] == pytest.approx(50, abs=1)
    assert s["refused_answer_ms"]["n"] == 1 and s["recovery_s"] == 52.0 and s["kill_s"] == 20.0
    assert s["leftovers_stopped_at_restart"] == [7, 8] and s["statuses"] == [200, 503]


def test_a_load_only_summary_counts_by_model_without_kill_figures():
    results = [{"started": 1, "ended": 2, "kind": "complete", "status": 200, "model": "med-lora"},
               {"started": 1, "ended": 3, "kind": "http_error", "status": 503, "model": "med-lora",
                "why": "upstream model server http://127.0.0.1:8000/v1 failed: ServerDisconnectedError"},
               {"started": 2, "ended": 61, "kind": "complete", "status": 200, "model": "med-lora-rag"}]
    s = summarise(results, None, {}, t0=1.0)
    assert (s["requests"], s["complete"], s["http_error"], s["statuses"]) == (3, 2, 1, [200, 503])
    assert s["by_model"] == {"med-lora": 2, "med-lora-rag": 1} and s["seconds"] == 60.0
    assert "in_flight_at_kill" not in s and "recovery_s" not in s
    assert s["error_messages"] == {"upstream model server http://N.N.N.N:N/vN failed: ServerDisconnectedError": 1}
