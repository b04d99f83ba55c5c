"""Parity verdicts, one per way a served answer can part from the trained model."""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from core.errors import StageFailed
from serve.parity import compare, vllm_outputs, without_system
from tests.conftest import Served

EOS = {2}


def ref(**kw) -> dict:
    return {"prompt_ids": [1, 5, 6], "train_prompt_ids": [1, 5, 6], "output_ids": [7, 8, 9, 2]} | kw


def served(*ids: int, prompt: tuple = (1, 5, 6)) -> dict:
    return {"prompt_ids": list(prompt), "output_ids": list(ids)}


def test_identical_tokens_match_even_when_only_one_side_reports_eos():
    assert compare(ref(), served(7, 8, 9), [0.0, 0.0, 0.0], EOS, 1e-3) == "match"


def test_an_output_the_reference_picks_within_the_tolerance_is_numerics_and_any_token_beyond_is_a_mismatch():
    assert compare(ref(), served(7, 4, 9), [0.0, 1e-4, 0.0], EOS, 1e-3) == "numerics@1"
    assert compare(ref(), served(7, 4, 9), [0.0, 1e-4, 0.0, 0.2], EOS, 1e-3) == "MISMATCH@3"
    assert compare(ref(), served(7, 4, 9), [0.0, 1e-4, 0.0, 0.2], EOS, 0.5) == "numerics@1"  # a 16-bit tolerance
    assert compare(ref(), served(7, 8, 4), [0.0, 0.0, 3.0], EOS, 1e-3) == "MISMATCH@2"
    assert compare(ref(), served(7, 8, 2), [0.0, 0.0, 3.0], EOS, 1e-3) == "MISMATCH@2"  # stopped where it would not


def test_served_tokens_the_reference_was_not_fed_are_a_mismatch():
    assert compare(ref(), served(7, 4, 9), [0.0, 1e-4], EOS, 1e-3) == "MISMATCH@2"


def test_served_prompt_other_than_the_chat_template_is_prompt():
    assert compare(ref(), served(7, 8, 9, prompt=(1, 5, 5)), [0.0] * 3, EOS, 1e-3) == "PROMPT"


def test_training_template_other_than_the_chat_template_is_train_prompt_whatever_vllm_did():
    trained_differently = ref(train_prompt_ids=[1, 4, 5, 6])
    assert compare(trained_differently, served(7, 8, 9), [0.0] * 3, EOS, 1e-3) == "TRAIN-PROMPT"
    # without a training template to compare with (none named), only vLLM's side is judged
    assert compare(ref(train_prompt_ids=None), served(7, 8, 9), [0.0] * 3, EOS, 1e-3) == "match"


def test_without_system_drops_only_the_system_turn():
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert without_system(chat) == [{"role": "user", "content": "u"}]


def test_a_running_server_that_does_not_serve_the_adapter_says_to_restart_it():
    """`make serve` started before the preference stage had trained: vLLM answers 404 for its name."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    def unknown_model():
        return JSONResponse({"error": {"message": "The model `med-lora-dpo` does not exist.", "type": "NotFoundError",
                                       "param": "model", "code": 404}}, status_code=404)
    server = Served(app, "/v1")
    try:
        with pytest.raises(StageFailed, match=r"does not serve 'med-lora-dpo' .*restart it.*does not exist"):
            vllm_outputs(server.url, "med-lora-dpo", None, [[{"role": "user", "content": "q"}]], 4)
    finally:
        server.stop()
