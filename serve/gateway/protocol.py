"""Wire types of the gateway: the OpenAI chat subset it reads, Dify's external-knowledge API, errors.

Requests are validated only as far as the gateway needs (roles, non-empty
messages, types and ranges of the common sampling fields); every other OpenAI
or vLLM field (n, logprobs, top_k, repetition_penalty, response_format, ...)
is kept by `extra="allow"` and passed to vLLM untouched, so vLLM stays the
judge of what it supports.

The fields the gateway does read are strict (`"stream": "true"`, `"top_k": false` or
`"max_tokens": "8"` are a 400, as with OpenAI's API): the body goes to vLLM as sent, so a
value pydantic would coerce is not the value vLLM gets, and the OpenAPI document, which
says "boolean" and "integer", is then the truth.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from serve.gateway.json_values import first_invalid
from serve.rag.types import Source


class PassThrough(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


def refuse_invalid_values(data: Any) -> Any:
    """A 'before' validator for a whole request body: NaN, Infinity and lone surrogates are a 400
    naming the field (serve/gateway/json_values.py), never passed on or rewritten."""
    found = first_invalid(data)
    if found:
        raise PydanticCustomError("invalid_json_value", "{param}: {problem}",
                                  {"param": found[0], "problem": found[1]})
    return data


def _whole_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as JSON means it: 8.0 is the integer 8 (JSON Schema says so too), true and "8" are not.
# The Optional goes inside the Annotated: the other way round pydantic writes `ge` into the OpenAPI
# document instead of `minimum`.
JsonInt = Annotated[int, BeforeValidator(_whole_number)]
OptionalJsonInt = Annotated[Optional[int], BeforeValidator(_whole_number)]


# --- OpenAI chat completions -------------------------------------------------------------------

class ContentPart(PassThrough):
    """One part of a multi-part message: {"type": "text", "text": ...}, {"type": "image_url", ...}."""
    type: str
    text: Optional[str] = None


class ChatMessage(PassThrough):
    role: Literal["system", "user", "assistant", "tool"]
    # None is legal for an assistant turn that only carries tool_calls
    content: Union[str, list[ContentPart], None] = None
    name: Optional[str] = None
    tool_calls: Optional[list[dict[str, Any]]] = None
    tool_call_id: Optional[str] = None

    def text(self) -> str:
        """The message's text: the string, or its text parts joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content or [] if p.type == "text" and p.text)


class StreamOptions(PassThrough):
    include_usage: bool = False


class ChatCompletionRequest(PassThrough):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    max_tokens: OptionalJsonInt = Field(None, ge=1)
    max_completion_tokens: OptionalJsonInt = Field(None, ge=1)
    temperature: Optional[float] = Field(None, ge=0.0, le=2.0)
    top_p: Optional[float] = Field(None, ge=0.0, le=1.0)
    seed: OptionalJsonInt = None
    stop: Union[str, list[str], None] = None
    tools: Optional[list[dict[str, Any]]] = None
    tool_choice: Union[str, dict[str, Any], None] = None

    _sent: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_what_was_sent(cls, data: Any, handler: Any) -> "ChatCompletionRequest":
        """Validate, and keep the body as sent: vLLM gets the client's values, not pydantic's
        (`temperature: 1` would otherwise reach vLLM as 1.0, and extras re-serialised)."""
        request = handler(refuse_invalid_values(data))
        request._sent = data if isinstance(data, dict) else request.model_dump(mode="json", exclude_unset=True)
        return request

    def upstream_payload(self, **changes: Any) -> dict[str, Any]:
        """The request exactly as the client sent it (extras included), with `changes` applied."""
        return {**self._sent, **changes}

    def sent_messages(self) -> list[dict[str, Any]]:
        """The messages as sent (copies, so the caller may change them)."""
        return [dict(m) for m in self._sent["messages"]]

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)


class SourcePayload(BaseModel):
    """A source shown to the user; `index` is the [n] the model was told to cite."""
    index: int = Field(ge=1)
    title: str
    snippet: str
    score: float
    # the source's own metadata plus chunk_id and doc_id (for citation scoring)
    metadata: dict[str, Any] = {}

    @classmethod
    def from_source(cls, index: int, source: Source, snippet_chars: int = 160) -> "SourcePayload":
        meta = {"chunk_id": source.chunk_id, "doc_id": source.doc_id, **(source.metadata or {})}
        return cls(index=index, title=source.title, snippet=source.snippet(snippet_chars),
                   score=float(source.score), metadata=meta)


# --- Dify external knowledge API ---------------------------------------------------------------
# Dify may add fields over time; unknown ones are ignored rather than refused.

class RetrievalSetting(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    top_k: JsonInt = Field(ge=1, le=50)
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)


class DifyRetrievalRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    # One gateway serves one index, so any knowledge_id is accepted (it names the
    # knowledge base on Dify's side only); it must still be present.
    knowledge_id: str
    query: str = Field(min_length=1)
    retrieval_setting: RetrievalSetting
    # Accepted and ignored: the Retriever protocol has no metadata filter.
    metadata_condition: Optional[dict[str, Any]] = None

    _valid_values = model_validator(mode="before")(refuse_invalid_values)


class DifyRecord(BaseModel):
    content: str
    score: float = Field(ge=0.0, le=1.0)
    title: str
    metadata: dict[str, Any] = {}   # never null: Dify's pipeline fails on null metadata

    @classmethod
    def from_source(cls, source: Source) -> "DifyRecord":
        meta = {"chunk_id": source.chunk_id, "doc_id": source.doc_id, **(source.metadata or {})}
        return cls(content=source.text, score=min(1.0, max(0.0, float(source.score))),
                   title=source.title, metadata=meta)


class DifyRetrievalResponse(BaseModel):
    records: list[DifyRecord]


# Dify's suggested error codes (conventions; Dify itself only looks at the HTTP status).
DIFY_BAD_AUTH_FORMAT = 1001   # Authorization header missing or not "Bearer <key>"
DIFY_AUTH_FAILED = 1002       # wrong key
DIFY_NO_KNOWLEDGE = 2001      # knowledge base does not exist / request cannot be served


# --- errors ------------------------------------------------------------------------------------

class ErrorInfo(BaseModel):
    message: str
    type: str
    param: Optional[str] = None
    code: Union[int, str, None] = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    error: ErrorInfo


def error_body(message: str, type_: str, status: int, param: Optional[str] = None) -> dict[str, Any]:
    """OpenAI-shaped error dict; `code` carries the HTTP status, as vLLM's errors do."""
    return ErrorResponse(error=ErrorInfo(message=message, type=type_, param=param, code=status)).model_dump()


def dify_error_body(code: int, message: str, status: int, type_: str = "invalid_request_error",
                    param: Optional[str] = None) -> dict[str, Any]:
    """Dify's {"error_code", "error_msg"} plus the OpenAI `error` object, so either reader understands."""
    return {"error_code": code, "error_msg": message, **error_body(message, type_, status, param)}
