"""One place says where clients reach the servers: vLLM, the gateway, the demo's endpoint, eval's targets."""
from __future__ import annotations

import pytest

from core import endpoints
from core.recipe.load import load_recipe
from core.recipe.schema import EvalSection
from demo.chat import Settings
from evaluation.evaluate import resolve_targets
from tests.conftest import ROOT


def recipe(*overrides: str):
    return load_recipe(ROOT / "recipes/quickstart.yaml", list(overrides))


@pytest.mark.parametrize("host, reached", [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")])
def test_a_server_bound_to_all_interfaces_is_reached_on_loopback(host, reached):
    assert endpoints.loopback(host) == reached and endpoints.loopback("::") == "127.0.0.1"
    assert endpoints.vllm_url(recipe(f"serve.host={host}", "serve.port=8001")) == f"http://{reached}:8001/v1"


def test_eval_targets_and_the_demo_find_servers_bound_to_another_address(monkeypatch):
    monkeypatch.setenv("MEDKIT_API_KEY", "k")
    bound = recipe("serve.host=10.1.2.3", "serve.port=8001", "rag.gateway.host=10.1.2.4", "rag.gateway.port=8101")
    targets, skipped = resolve_targets(bound, bound.eval)
    assert {t.name: t.base_url for t in targets} == {"base": "http://10.1.2.3:8001/v1",
                                                     "sft": "http://10.1.2.3:8001/v1",
                                                     "sft+rag": "http://10.1.2.4:8101/v1"}
    assert skipped == [] and {t.api_key for t in targets} == {"k"}
    assert Settings.from_recipe(bound).base_url == "http://10.1.2.4:8101/v1"  # the demo: the gateway
    assert Settings.from_recipe(recipe("rag=", "serve.host=10.1.2.3")).base_url == "http://10.1.2.3:8000/v1"


def test_a_rag_target_without_a_gateway_is_skipped_with_the_reason():
    plain = recipe("rag=")
    targets, skipped = resolve_targets(plain, plain.eval or EvalSection())
    assert [t.name for t in targets] == ["base", "sft"]
    assert skipped and skipped[0][:2] == ("sft+rag", "med-lora-rag") and "no rag section" in skipped[0][2]


def test_rag_naming_and_the_key():
    assert endpoints.is_rag_model("med-lora-rag", "-rag") and not endpoints.is_rag_model("-rag", "-rag")
    assert not endpoints.is_rag_model("med-lora", "-rag") and not endpoints.is_rag_model("x", "")
    assert endpoints.rag_model("med-lora", "-rag") == "med-lora-rag"
    assert endpoints.rag_suffix(recipe("rag.gateway.model_suffix=-kb")) == "-kb"
    assert endpoints.rag_suffix(recipe("rag=")) == "-rag"  # the gateway's default naming
    assert endpoints.url_for_model(recipe("rag.gateway.port=8123"), "base-rag") == "http://127.0.0.1:8123/v1"
    assert endpoints.bearer(None) == {} and endpoints.bearer("k") == {"Authorization": "Bearer k"}


def test_the_gateway_relays_to_this_recipes_vllm_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("MEDKIT_UPSTREAM_URL", raising=False)
    assert endpoints.upstream_url(recipe("serve.host=0.0.0.0", "serve.port=8009")) == "http://127.0.0.1:8009/v1"
    monkeypatch.setenv("MEDKIT_UPSTREAM_URL", "http://gpu:9000/v1/")
    assert endpoints.upstream_url(recipe()) == "http://gpu:9000/v1"
