"""The demo's pure parts, no server: sources panel, error messages, presets, model choice, streaming."""
from __future__ import annotations

import asyncio
import json

import openai
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from demo.chat import (FULL_LABEL, MINIMAL_LABEL, TRAINED_LABEL, DemoError, Settings, chat_messages, default_choice,
                       dropdown_models, error_message, message_text, render_sources, request_model,
                       stream_answer)
from core.recipe.load import load_recipe
from tests.conftest import Served, dead_url

URL = "http://127.0.0.1:8100/v1"
LISTED = ["base", "med-lora", "base-rag", "med-lora-rag"]
SOURCES = [{"index": i, "title": f"标题{i}", "snippet": f"片段{i}", "score": 1 - i / 10, "metadata": {"source": "qa"}}
           for i in (2, 1, 3)]


def test_sources_panel_numbers_match_the_citations_and_respect_top_k():
    panel = render_sources(SOURCES, top_k=2)
    assert panel.index("[1]") < panel.index("[2]") and "[3]" not in panel  # by index, top_k of them
    assert "标题1" in panel and "片段2" in panel and "score 0.900" in panel and "qa" in panel
    assert "[3]" in render_sources(SOURCES, top_k=5)


def test_sources_panel_escapes_html_and_explains_when_empty():
    evil = [{"index": 1, "title": "<script>x</script>", "snippet": "a < b & c", "score": 0.5}]
    assert "<script>" not in render_sources(evil) and "&lt;script&gt;" in render_sources(evil)
    off = render_sources(SOURCES, retrieval=False)
    assert "[1]" not in off and "检索已关闭" in off and "Retrieval is off" in off
    assert "[1]" not in render_sources([]) and "No sources" in render_sources([])
    assert "Retrieving" in render_sources(None)


SSE_BROKEN = 'data: {"error": {"message": "upstream stream broke off"}}\n\n'
ERRORS = {401: "invalid API key", 404: "no such model", 503: "upstream model server is not reachable"}


@pytest.fixture(scope="module")
def endpoint():
    """A real OpenAI-shaped HTTP server on 127.0.0.1; the model name picks its answer: 'status-401',
    'slow' (2 s of silence), 'broken' (an error event mid-stream), else the streamed reply in
    endpoint.sse. The demo meets it through the openai SDK, so every error is the SDK's own."""
    app, seen = FastAPI(), {}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        seen.update(body)
        model = body["model"]
        if model.startswith("status-"):
            status = int(model.removeprefix("status-"))
            error = {"message": ERRORS[status], "type": "x", "param": None, "code": status}
            return JSONResponse({"error": error}, status_code=status)
        if model == "slow":
            await asyncio.sleep(2)
        return Response(SSE_BROKEN if model == "broken" else served.sse, media_type="text/event-stream")

    served = Served(app, "/v1")
    served.seen, served.sse = seen, ""
    yield served
    served.stop()


def failure(url: str, model: str, timeout_s: float = 30.0) -> Exception:
    """The exception the demo's own client raises for one streamed request to `model`."""
    settings = Settings.from_recipe(load_recipe("recipes/quickstart.yaml", [f"demo.base_url={url}"]))
    with pytest.raises(openai.APIError) as raised:
        list(stream_answer(settings.client(timeout_s), model, [{"role": "user", "content": "q"}], 0.0, 8))
    return raised.value


def test_error_messages_are_chinese_with_the_english_detail(endpoint):
    down = dead_url()
    assert error_message(failure(down, "m"), down) == (f"⚠️ 无法连接模型服务 (connection refused: {down})\n\n"
                                                       f"请确认模型服务已启动（make serve）后重试。")
    url = endpoint.url
    assert "超时" in error_message(failure(url, "slow", timeout_s=0.5), url)
    assert error_message(failure(url, "status-503"), url) == \
        "⚠️ 模型服务返回错误 (HTTP 503: upstream model server is not reachable)"
    wrong_key = error_message(failure(url, "status-401"), url, "MEDKIT_API_KEY")
    assert "HTTP 401: invalid API key" in wrong_key and "$MEDKIT_API_KEY" in wrong_key
    assert "HTTP 404" in error_message(failure(url, "status-404"), url)
    assert "stream error: upstream stream broke off" in error_message(failure(url, "broken"), url)
    assert error_message(ValueError("odd"), URL) == "⚠️ 出错了 (ValueError: odd)"


MINIMAL = "你是一名医生，请回答用户的问题。"


def test_presets_are_the_recipes_training_prompt_and_its_minimal_prompt():
    for name in ("quickstart", "cmedqa2_qwen2.5-7b_lora"):  # cMedQA2 trains with its own wording
        recipe = load_recipe(f"recipes/{name}.yaml", check_files=False)
        settings = Settings.from_recipe(recipe)
        assert list(settings.presets) == [FULL_LABEL, MINIMAL_LABEL]
        assert settings.system_prompt(FULL_LABEL) == recipe.data.system_prompt and "【免责声明】" in recipe.data.system_prompt
        assert settings.system_prompt(MINIMAL_LABEL) == MINIMAL  # eval.minimal_prompt (its default here)
        assert settings.system_prompt(None) == recipe.data.system_prompt  # the default: what it was trained with
    cmedqa2 = load_recipe("recipes/cmedqa2_qwen2.5-7b_lora.yaml", check_files=False).data.system_prompt
    assert cmedqa2.endswith("回答患者的问题。")
    exam = Settings.from_recipe(load_recipe("recipes/medqa_qwen2.5-0.5b_lora.yaml", ["eval.minimal_prompt=简答"],
                                            check_files=False))
    assert list(exam.presets) == [TRAINED_LABEL, MINIMAL_LABEL] and exam.system_prompt(MINIMAL_LABEL) == "简答"
    bare = Settings.from_recipe(load_recipe("recipes/quickstart.yaml", ["data.system_prompt="]))
    assert bare.presets == {MINIMAL_LABEL: MINIMAL}


def test_model_choice_follows_the_retrieval_switch():
    assert dropdown_models(LISTED, "-rag") == ["base", "med-lora"]
    assert dropdown_models(["x-rag"], "-rag") == ["x-rag"]  # a -rag model without its plain one stays
    assert default_choice(LISTED, "-rag") == ("base", True)  # the first -rag model
    assert default_choice(LISTED, "-rag", "med-lora-rag") == ("med-lora", True)
    assert default_choice(LISTED, "-rag", "med-lora") == ("med-lora", False)
    assert default_choice(["base"], "-rag") == ("base", False) and default_choice([], "-rag") == (None, False)
    assert request_model("med-lora", True, LISTED, "-rag", URL) == "med-lora-rag"
    assert request_model("med-lora", False, LISTED, "-rag", URL) == "med-lora"
    with pytest.raises(DemoError, match="base-rag"):
        request_model("base", True, ["base"], "-rag", URL)  # vLLM directly: no retrieval variant
    with pytest.raises(DemoError, match="刷新"):
        request_model(None, True, [], "-rag", URL)


def test_history_becomes_openai_messages_without_error_notes():
    history = [{"role": "user", "content": [{"type": "text", "text": "头痛怎么办？"}]},
               {"role": "assistant", "content": "⚠️ 无法连接模型服务 (connection refused: x)"},
               {"role": "user", "content": "头痛怎么办？"},
               {"role": "assistant", "content": [{"type": "text", "text": "多休息 [1]\n\n⚠️ 模型服务中途出错"}]},
               {"role": "user", "content": "还有呢？"}]
    assert message_text(history[0]["content"]) == "头痛怎么办？"
    assert chat_messages(history, MINIMAL) == [
        {"role": "system", "content": MINIMAL}, {"role": "user", "content": "头痛怎么办？"},
        {"role": "user", "content": "头痛怎么办？"}, {"role": "assistant", "content": "多休息 [1]"},
        {"role": "user", "content": "还有呢？"}]


def test_settings_pick_the_gateway_then_vllm_then_the_explicit_url(monkeypatch):
    monkeypatch.setenv("MEDKIT_API_KEY", "sekret")
    gateway = Settings.from_recipe(load_recipe("recipes/quickstart.yaml", ["rag.gateway.port=8123"]))
    assert gateway.base_url == "http://127.0.0.1:8123/v1" and gateway.api_key == "sekret"
    plain = Settings.from_recipe(load_recipe("recipes/quickstart.yaml", ["rag=", "serve.host=0.0.0.0"]))
    assert plain.base_url == "http://127.0.0.1:8000/v1"
    given = Settings.from_recipe(load_recipe("recipes/quickstart.yaml", ["demo.base_url=http://gpu:9000/v1/"]))
    assert given.base_url == "http://gpu:9000/v1" and given.demo.port == 7860 and given.demo.host == "127.0.0.1"
    monkeypatch.delenv("MEDKIT_API_KEY")
    assert Settings.from_recipe(load_recipe("recipes/quickstart.yaml")).api_key is None


def test_stream_answer_yields_the_sources_first_then_the_text(endpoint):
    def chunk(**fields):
        return "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                                      **fields}, ensure_ascii=False) + "\n\n"
    endpoint.sse = (chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}], sources=SOURCES[:1])
                    + chunk(choices=[{"index": 0, "delta": {"content": "多喝水"}}])
                    + chunk(choices=[{"index": 0, "delta": {"content": " [1]"}}]) + "data: [DONE]\n\n")
    settings = Settings.from_recipe(load_recipe("recipes/quickstart.yaml", [f"demo.base_url={endpoint.url}"]))
    events = list(stream_answer(settings.client(), "med-lora-rag", [{"role": "user", "content": "q"}], 0.0, 32))
    assert events == [("sources", SOURCES[:1]), ("text", "多喝水"), ("text", " [1]")]
    seen = endpoint.seen
    assert seen["model"] == "med-lora-rag" and seen["stream"] is True and seen["max_tokens"] == 32


@pytest.mark.slow
def test_the_app_builds_and_lists_no_models_when_the_endpoint_is_down():
    from demo.app import build, fetch_models, login
    from serve.process import free_port  # a port nobody listens on

    down = f"demo.base_url=http://127.0.0.1:{free_port()}/v1"
    settings = Settings.from_recipe(load_recipe("recipes/quickstart.yaml", [down]))
    listed, status = fetch_models(settings)
    assert listed == [] and "无法连接模型服务" in status
    assert build(settings, listed, status) is not None
    assert login(settings) is None
