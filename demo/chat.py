"""The demo's logic, free of Gradio: endpoint settings, prompts, streaming, the sources panel, errors.

Run as:
    python -m demo recipes/quickstart.yaml [demo.port=7861 ...]   (this module is imported by demo/app.py)

Everything here speaks HTTP through the official openai client and nothing else: the
demo is a client of the deployed stack (vLLM, or the RAG gateway in front of it), so
it shows exactly what any other client of the endpoint would get.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

import openai

from core.answer_format import asks_for_sections
from core.endpoints import api_key, client_url, is_rag_model, rag_suffix
from core.recipe.schema import DemoSection, EvalSection, Recipe

FULL_LABEL = "五段式（完整指令）"     # the recipe's data.system_prompt when it asks for the five sections
TRAINED_LABEL = "训练时的指令"          # the recipe's data.system_prompt otherwise
MINIMAL_LABEL = "简短指令"              # the recipe's eval.minimal_prompt (the ablation's weak prompt)
WARN = "⚠️"  # every error note in the chat starts with it; such notes are never sent back to the model

PANEL_IDLE = "提问后，这里显示本次回答检索到的参考资料。<br>Sources used by each answer appear here."
PANEL_OFF = "检索已关闭：本次回答未使用参考资料。<br>Retrieval is off: this answer uses no sources."
PANEL_PENDING = "正在检索参考资料…<br>Retrieving sources…"
PANEL_NONE = "本次回答没有参考资料。<br>No sources came back for this answer."


@dataclass(frozen=True)
class Settings:
    """What the app needs from the recipe: where the endpoint is, its key, the UI defaults."""
    base_url: str
    api_key: Optional[str]
    key_env: Optional[str]
    suffix: str
    demo: DemoSection
    presets: dict[str, str] = field(default_factory=dict)  # label -> system prompt, the default first

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> "Settings":
        return cls(client_url(recipe), api_key(recipe), recipe.serve.api_key_env, rag_suffix(recipe),
                   recipe.demo or DemoSection(), presets(recipe))

    def system_prompt(self, preset: Optional[str]) -> str:
        """The preset's prompt; the default (first) preset for an unknown or missing one."""
        return self.presets.get(preset or "", next(iter(self.presets.values()), ""))

    def client(self, timeout_s: float = 300.0) -> openai.OpenAI:
        # no retries: a down endpoint is reported at once; the read timeout is the longest silence.
        # The timeout is the SDK's own type: the SDK's HTTP library is its business (openai 3.51
        # moved from httpx to httpx2, and an httpx.Timeout handed to it is a TypeError).
        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "none", max_retries=0,
                             timeout=openai.Timeout(timeout_s, connect=5.0))


def presets(recipe: Recipe) -> dict[str, str]:
    """The system prompts to choose from: what the model was trained with (data.system_prompt), then
    the evaluation's minimal prompt (eval.minimal_prompt)."""
    found = {}
    trained = recipe.data.system_prompt
    if trained:
        found[FULL_LABEL if asks_for_sections(trained) else TRAINED_LABEL] = trained
    found[MINIMAL_LABEL] = (recipe.eval or EvalSection()).minimal_prompt
    return found


# --- models ------------------------------------------------------------------------------------

is_rag = is_rag_model  # '<model><suffix>': the gateway's retrieval variant


def dropdown_models(listed: Iterable[str], suffix: str) -> list[str]:
    """The models to choose from: every plain model in the endpoint's order (the retrieval switch
    picks its -rag variant), then any -rag model whose plain model is not listed."""
    listed = list(listed)
    plain = [m for m in listed if not is_rag(m, suffix)]
    return plain + [m for m in listed if is_rag(m, suffix) and m[:-len(suffix)] not in plain]


def default_choice(listed: list[str], suffix: str, wanted: Optional[str] = None) -> tuple[Optional[str], bool]:
    """(dropdown value, retrieval on): demo.default_model, else the first -rag model, else the first."""
    pick = wanted or next((m for m in listed if is_rag(m, suffix)), listed[0] if listed else None)
    if pick is None:
        return None, False
    if is_rag(pick, suffix) and pick[:-len(suffix)] in listed:
        return pick[:-len(suffix)], True
    return pick, is_rag(pick, suffix)


class DemoError(Exception):
    """A problem the demo explains itself (already a readable chat message)."""


def request_model(model: Optional[str], retrieval: bool, listed: list[str], suffix: str, base_url: str) -> str:
    """The model name to send: the plain model, or its -rag variant when retrieval is on."""
    if not model:
        raise DemoError(f"{WARN} 没有可选的模型：请确认服务已启动后点「刷新」"
                        f"(no model listed by {base_url}; start the server, then press refresh)")
    if not retrieval:
        return model[:-len(suffix)] if is_rag(model, suffix) and model[:-len(suffix)] in listed else model
    if is_rag(model, suffix):
        return model
    wanted = model + suffix
    if listed and wanted not in listed:
        raise DemoError(f"{WARN} 此端点没有检索版本 {wanted}：请关闭「检索」或改用 RAG 网关 "
                        f"({base_url} lists no '{wanted}'; switch retrieval off, or point the demo at the "
                        f"gateway and build the index with `make index`)")
    return wanted


def list_models(client: openai.OpenAI) -> list[str]:
    return [m.id for m in client.with_options(timeout=10.0).models.list()]


# --- prompts and streaming ---------------------------------------------------------------------

def message_text(content: Any) -> str:
    """Text of a chat message: Gradio 6 hands content over as a list of {"type": "text", ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        return "\n".join(message_text(part) for part in content if part)
    return ""


def without_error(text: str) -> str:
    """An assistant turn as the model wrote it: any error note the demo appended is cut off."""
    return text.split(WARN)[0].rstrip() if WARN in text else text


def chat_messages(history: list[dict], system: str) -> list[dict[str, str]]:
    """OpenAI messages: the system prompt, then the conversation (error notes and empty turns left out)."""
    messages = [{"role": "system", "content": system}]
    for turn in history:
        role, text = turn.get("role"), message_text(turn.get("content")).strip()
        if role == "assistant":
            text = without_error(text)
        if role in ("user", "assistant") and text:
            messages.append({"role": role, "content": text})
    return messages


def stream_answer(client: openai.OpenAI, model: str, messages: list[dict], temperature: float,
                  max_tokens: int) -> Iterator[tuple[str, Any]]:
    """("sources", list) when the gateway sends them (first chunk of a -rag answer), ("text", piece) after.

    Closing the generator (the stop button) closes the HTTP stream, so the server stops generating.
    """
    stream = client.chat.completions.create(model=model, messages=messages, stream=True,
                                            temperature=float(temperature), max_tokens=int(max_tokens))
    try:
        for chunk in stream:
            sources = (chunk.model_extra or {}).get("sources")
            if sources is not None:
                yield "sources", sources
            if chunk.choices and chunk.choices[0].delta.content:
                yield "text", chunk.choices[0].delta.content
    finally:
        stream.close()


# --- what the user sees ------------------------------------------------------------------------

def render_sources(sources: Optional[list[dict]], top_k: int = 5, retrieval: bool = True) -> str:
    """HTML for the sources panel: '[n] title', score and snippet for the first `top_k` sources.

    The [n] is the source's own index, the number the model was told to cite.
    `sources` None = still waiting for them.
    """
    if not retrieval:
        return f'<div class="medkit-note">{PANEL_OFF}</div>'
    if sources is None:
        return f'<div class="medkit-note">{PANEL_PENDING}</div>'
    shown = sorted(sources, key=lambda s: s.get("index", 0))[:max(1, int(top_k))]
    if not shown:
        return f'<div class="medkit-note">{PANEL_NONE}</div>'
    items = []
    for number, source in enumerate(shown, start=1):
        index = source.get("index", number)
        title = html.escape(str(source.get("title") or "（无标题 untitled）"))
        snippet = html.escape(str(source.get("snippet") or ""))
        try:
            score = f"{float(source.get('score', 0.0)):.3f}"
        except (TypeError, ValueError):
            score = html.escape(str(source.get("score")))
        origin = (source.get("metadata") or {}).get("source")
        origin = f' · {html.escape(str(origin))}' if origin else ""
        items.append(f'<div class="medkit-source"><div class="medkit-source-head"><b>[{index}]</b> {title}</div>'
                     f'<div class="medkit-source-meta">score {score}{origin}</div>'
                     f'<div class="medkit-source-snippet">{snippet}</div></div>')
    return "\n".join(items)


def api_detail(exc: openai.APIError) -> str:
    """The server's own message from an OpenAI-shaped error body, else the client's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str) and inner["message"]:
            return inner["message"]
    return exc.message


def root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    return seen


def error_message(exc: BaseException, base_url: str, key_env: Optional[str] = None) -> str:
    """A chat message for a failed request: what went wrong in Chinese, the detail in English."""
    if isinstance(exc, DemoError):
        return str(exc)
    if isinstance(exc, openai.APITimeoutError):
        return f"{WARN} 模型服务响应超时 (timeout: {base_url})"
    if isinstance(exc, openai.APIConnectionError):
        cause = root_cause(exc)
        detail = "connection refused" if "refused" in str(cause).lower() else (
            f"{type(cause).__name__}: {cause}" if str(cause) else "connection error")
        # the URL ends the line: a Markdown autolink would swallow Chinese text written after it
        return f"{WARN} 无法连接模型服务 ({detail}: {base_url})\n\n请确认模型服务已启动（make serve）后重试。"
    if isinstance(exc, openai.AuthenticationError):
        where = f"${key_env}" if key_env else "the API key"
        return f"{WARN} 模型服务拒绝了 API 密钥 (HTTP 401: {api_detail(exc)}; check {where})"
    if isinstance(exc, openai.NotFoundError):
        return f"{WARN} 模型不存在或不可用 (HTTP 404: {api_detail(exc)})。请点「刷新」重新获取模型列表。"
    if isinstance(exc, openai.APIStatusError):
        return f"{WARN} 模型服务返回错误 (HTTP {exc.status_code}: {api_detail(exc)})"
    if isinstance(exc, openai.APIError):
        return f"{WARN} 模型服务中途出错 (stream error: {api_detail(exc)})"
    return f"{WARN} 出错了 ({type(exc).__name__}: {exc})"
