"""`make parity`'s verdict table and exit status: 0 when every difference is numerics, 1 otherwise.

The HF reference and the served outputs are stand-ins (no engines); the comparison, the table,
parity.json and the exit status are the real code."""
from __future__ import annotations

import json

import pytest

from core.layout import RunLayout
from serve import parity

CHAT = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]
REF = {"prompt_ids": [1, 5, 6], "train_prompt_ids": [1, 5, 6], "output_ids": [7, 8, 9, 2],
       "margins": [3.0, 0.0001, 3.0, 3.0]}
SERVED = {  # what vLLM answers, by the verdict it earns against REF
    "match": {"prompt_ids": [1, 5, 6], "output_ids": [7, 8, 9]},
    "numerics@1": {"prompt_ids": [1, 5, 6], "output_ids": [7, 4, 9]},
    "MISMATCH@2": {"prompt_ids": [1, 5, 6], "output_ids": [7, 8, 4]},
    "PROMPT": {"prompt_ids": [1, 5, 5], "output_ids": [7, 8, 9]},
}


@pytest.fixture
def stand_ins(monkeypatch):
    def use(merged: str, lora: str, ref: dict = REF) -> None:
        monkeypatch.setattr(parity, "ensure_base_model", lambda recipe: None)
        monkeypatch.setattr(parity, "load_chats", lambda recipe, n: [CHAT])
        monkeypatch.setattr(parity, "eos_token_ids", lambda model_dir: {2})
        monkeypatch.setattr(parity, "hf_reference", lambda recipe, chats, out: [ref, ref])
        monkeypatch.setattr(parity, "ensure_server", lambda recipe, mode, started: {"url": mode, "models": ["m"]})
        answers = {"merged": SERVED[merged], "lora": SERVED[lora]}
        monkeypatch.setattr(parity, "vllm_outputs", lambda url, model, key, chats, n:
                            [{**answers[url], "text": "t"} for _ in chats])
    return use


def run_parity(tmp_path) -> tuple[int, dict]:
    code = parity.main(["recipes/quickstart.yaml", f"run_dir={tmp_path}"])
    return code, json.loads((RunLayout(tmp_path).parity / "parity.json").read_text())


@pytest.mark.parametrize("merged, lora", [("match", "match"), ("numerics@1", "match"), ("match", "numerics@1")])
def test_matches_and_numerics_exit_0(tmp_path, stand_ins, merged, lora):
    stand_ins(merged, lora)
    code, table = run_parity(tmp_path)
    assert code == 0
    assert [(r["merged"], r["lora"]) for r in table["rows"]] == [(merged, lora)] * 2  # the chat + it without system
    assert table["exact_matches"] == {"merged": 2 * (merged == "match"), "lora": 2 * (lora == "match")}


@pytest.mark.parametrize("merged, lora", [("MISMATCH@2", "match"), ("match", "PROMPT"), ("PROMPT", "MISMATCH@2")])
def test_a_mismatch_or_another_prompt_exits_1_with_the_explanation(tmp_path, stand_ins, capsys, merged, lora):
    stand_ins(merged, lora)
    code, table = run_parity(tmp_path)
    assert code == 1 and table["rows"][0]["merged"] == merged and table["rows"][0]["lora"] == lora
    assert "MISMATCH@i = tokens differ at step i" in capsys.readouterr().err


def test_a_training_prompt_other_than_the_chat_template_exits_1(tmp_path, stand_ins):
    stand_ins("match", "match", ref={**REF, "train_prompt_ids": [1, 4, 5, 6]})
    code, table = run_parity(tmp_path)
    assert code == 1 and {r["merged"] for r in table["rows"]} == {"TRAIN-PROMPT"}
