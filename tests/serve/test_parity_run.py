"""`make parity`'s verdict table and exit status: 0 when every difference is numerics, 1 otherwise.

The HF references, the servers and what they answer are stand-ins (no engines); which columns are
checked, against which reference, on which server under which name, the comparison, the table,
parity.json and the exit status are the real code."""
from __future__ import annotations

import json

import pytest

from core.layout import RunLayout, base_model_path
from core.recipe.load import load_recipe
from core.server_record import ServerRecord
from serve import parity
from tests.conftest import ROOT

CHAT = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]
REF = {"prompt_ids": [1, 5, 6], "train_prompt_ids": [1, 5, 6], "output_ids": [7, 8, 9, 2]}
NEAR_TIE = (1, 4)  # token 4 at step 1: within the tolerance of the reference's own choice there (8)
PREF_REF = REF | {"output_ids": [7, 8, 3, 2]}  # the preference adapter answers otherwise from step 2
SERVED = {  # what vLLM answers, by the verdict it earns against REF
    "match": {"prompt_ids": [1, 5, 6], "output_ids": [7, 8, 9]},
    "numerics@1": {"prompt_ids": [1, 5, 6], "output_ids": [7, 4, 9]},
    "MISMATCH@2": {"prompt_ids": [1, 5, 6], "output_ids": [7, 8, 4]},
    "PROMPT": {"prompt_ids": [1, 5, 5], "output_ids": [7, 8, 9]},
    "preference": {"prompt_ids": [1, 5, 6], "output_ids": [7, 8, 3]},  # matches PREF_REF
}
PREFERENCE = ["preference.max_steps=2"]


def gaps(reference: list[int], served: list[int]) -> list[float]:
    """What the HF reference fed `served` would report: 0 where it picks the same token, a near tie, or 3 logits."""
    return [0.0 if t < len(reference) and token == reference[t] else 1e-4 if (t, token) == NEAR_TIE else 3.0
            for t, token in enumerate(served)]


@pytest.fixture
def stand_ins(monkeypatch, tmp_path):
    """use(answers by served model name): servers record their starts, the HF references their requests."""
    calls = {"servers": [], "asked": [], "references": []}

    def use(answers: dict[str, str], ref: dict = REF, merged: bool = True, replicas: int = 1,
            dtype: str = "float32") -> dict:
        if merged:
            RunLayout(tmp_path).merged.mkdir(parents=True, exist_ok=True)
            (RunLayout(tmp_path).merged / "config.json").write_text("{}")

        def references(recipe, checked, chats, served, out):
            refs = list({c.reference: None for c in checked})
            calls["references"] += refs
            results = {}
            for r in refs:
                own = PREF_REF if r.name == "preference" else ref
                fed = {c.name: [gaps(own["output_ids"], o["output_ids"]) for o in served[c.name]]
                       for c in checked if c.reference == r}
                results[r.name] = [{**own, "gaps": {name: g[i] for name, g in fed.items()}} for i in range(len(chats))]
            return results

        def server(recipe, mode, started):
            calls["servers"].append(mode)
            return ServerRecord(name=f"vLLM ({mode})", url=mode, port=0, models=[f"{mode}-own-model"], log="", pid=0,
                                pgid=0, marker="", started=0.0, mode=mode, dtype=dtype, data_parallel_size=replicas)

        def outputs(url, model, key, chats, n, beside=None, rank=None):
            calls["asked"].append((url, model) if beside is None else (url, model, beside))
            verdict = answers.get(f"{model}@{rank}", answers.get(model, "match"))  # by replica, else by model
            return [{**SERVED[verdict], "text": "t"} for _ in chats]

        monkeypatch.setattr(parity, "ensure_base_model", lambda recipe: None)
        monkeypatch.setattr(parity, "load_chats", lambda recipe, n: [CHAT])
        monkeypatch.setattr(parity, "eos_token_ids", lambda model_dir: {2})
        monkeypatch.setattr(parity, "hf_references", references)
        monkeypatch.setattr(parity, "ensure_server", server)
        monkeypatch.setattr(parity, "vllm_outputs", outputs)
        return calls
    return use


def run_parity(tmp_path, *overrides: str) -> tuple[int, dict]:
    code = parity.main(["recipes/quickstart.yaml", f"run_dir={tmp_path}", *overrides])
    return code, json.loads((RunLayout(tmp_path).parity / "parity.json").read_text())


def preference_trained(tmp_path, method: str = "dpo") -> None:
    RunLayout(tmp_path).preference_adapter(method).mkdir(parents=True)
    RunLayout(tmp_path).preference_done(method).write_text("{}")


@pytest.mark.parametrize("merged, lora", [("match", "match"), ("numerics@1", "match"), ("match", "numerics@1")])
def test_matches_and_numerics_exit_0(tmp_path, stand_ins, merged, lora):
    stand_ins({"merged-own-model": merged, "med-lora": lora})
    code, table = run_parity(tmp_path)
    assert code == 0
    assert [(r["merged"], r["lora"]) for r in table["rows"]] == [(merged, lora)] * 2  # the chat + it without system
    assert table["exact_matches"] == {"merged": 2 * (merged == "match"), "lora": 2 * (lora == "match"),
                                      "base_beside_lora": 2}


@pytest.mark.parametrize("merged, lora", [("MISMATCH@2", "match"), ("match", "PROMPT"), ("PROMPT", "MISMATCH@2")])
def test_a_mismatch_or_another_prompt_exits_1_with_the_explanation(tmp_path, stand_ins, capsys, merged, lora):
    stand_ins({"merged-own-model": merged, "med-lora": lora})
    code, table = run_parity(tmp_path)
    assert code == 1 and table["rows"][0]["merged"] == merged and table["rows"][0]["lora"] == lora
    assert "MISMATCH@i = tokens differ at step i" in capsys.readouterr().err


def test_a_training_prompt_other_than_the_chat_template_exits_1(tmp_path, stand_ins):
    stand_ins({"merged-own-model": "match", "med-lora": "match"}, ref={**REF, "train_prompt_ids": [1, 4, 5, 6]})
    code, table = run_parity(tmp_path)
    assert code == 1 and {r["merged"] for r in table["rows"]} == {"TRAIN-PROMPT"}


def test_without_a_finished_preference_stage_the_table_is_the_sft_one(tmp_path, stand_ins, capsys):
    calls = stand_ins({"merged-own-model": "match", "med-lora": "match"})
    for overrides in ([], PREFERENCE):  # no section; a section whose stage has not run
        code, table = run_parity(tmp_path, *overrides)
        # the quickstart recipe quantizes: before `make quantize` that column is listed as not checked
        assert code == 0 and set(table) == {"rows", "exact_matches", "columns", "skipped"}
        assert list(table["skipped"]) == ["quantized"] and "run `make quantize`" in table["skipped"]["quantized"]
        assert set(table["rows"][0]) == {"prompt", "system", "hf_tokens", "merged", "lora", "base_beside_lora",
                                         "largest_gap"}
    out = capsys.readouterr().out
    assert "    #  hf tokens  vllm merged     vllm lora       vllm base+lora  vllm text (start)\n" in out
    assert "exact: merged 2/2, lora 2/2, base+lora 2/2; table in" in out
    assert calls["servers"] == ["merged", "lora"] * 2 and {r.name for r in calls["references"]} == {"sft", "base"}


def test_the_preference_adapter_on_the_lora_server_against_its_own_reference(tmp_path, stand_ins, capsys):
    calls = stand_ins({"merged-own-model": "match", "med-lora": "match", "med-lora-dpo": "preference"})
    preference_trained(tmp_path)
    code, table = run_parity(tmp_path, *PREFERENCE)
    assert code == 0, capsys.readouterr().err
    assert [r["preference"] for r in table["rows"]] == ["match", "match"]
    assert table["exact_matches"] == {"merged": 2, "lora": 2, "base_beside_lora": 2, "preference": 2}
    assert calls["servers"] == ["merged", "lora"]  # the lora server serves both adapters
    assert calls["asked"] == [("merged", "merged-own-model"), ("lora", "med-lora"), ("lora", "base", "med-lora"),
                              ("lora", "med-lora-dpo")]
    sft, base, pref = calls["references"]
    assert (base.name, base.adapter) == ("base", None)  # transformers without an adapter
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}", *PREFERENCE])
    assert (pref.base, pref.adapter) == (base_model_path(recipe), RunLayout(tmp_path).preference_adapter("dpo"))
    assert (sft.base, sft.adapter) == (base_model_path(recipe), RunLayout(tmp_path).trained)
    assert table["preference"] | {"base": None} == {"model": "med-lora-dpo", "mode": "lora", "base": None,
                                                    "adapter": str(RunLayout(tmp_path).preference_adapter("dpo"))}
    out = capsys.readouterr().out
    assert "vllm lora       vllm base+lora  vllm dpo        vllm text" in out and "dpo 2/2" in out


def test_a_served_preference_adapter_that_answers_like_sft_is_a_mismatch(tmp_path, stand_ins):
    stand_ins({"merged-own-model": "match", "med-lora": "match", "med-lora-dpo": "match"})
    preference_trained(tmp_path)
    code, table = run_parity(tmp_path, *PREFERENCE)
    assert code == 1 and [r["preference"] for r in table["rows"]] == ["MISMATCH@2"] * 2
    assert [r["lora"] for r in table["rows"]] == ["match"] * 2


def test_start_from_merged_checks_the_adapter_on_the_merged_server_over_the_merged_model(tmp_path, stand_ins):
    calls = stand_ins({"merged-own-model": "match", "med-lora": "match", "med-lora-dpo": "preference"})
    preference_trained(tmp_path)
    code, table = run_parity(tmp_path, *PREFERENCE, "preference.start_from=merged")
    assert code == 0 and table["exact_matches"]["preference"] == 2
    assert calls["asked"] == [("merged", "merged-own-model"), ("lora", "med-lora"), ("lora", "base", "med-lora"),
                              ("merged", "med-lora-dpo")]
    assert calls["references"][2].base == str(RunLayout(tmp_path).merged.resolve())
    assert table["preference"]["mode"] == "merged"


def test_without_a_merged_model_only_the_lora_mode_is_checked(tmp_path, stand_ins, capsys):
    calls = stand_ins({"med-lora": "match", "med-lora-dpo": "preference"}, merged=False)
    preference_trained(tmp_path)
    code, table = run_parity(tmp_path, *PREFERENCE)
    assert code == 0 and calls["servers"] == ["lora"]
    assert table["exact_matches"] == {"lora": 2, "base_beside_lora": 2, "preference": 2}
    assert "make export" in table["skipped"]["merged"]
    assert "merged: not checked, no merged model in" in capsys.readouterr().out


def test_a_base_model_answering_with_the_adapter_beside_it_is_a_mismatch(tmp_path, stand_ins, capsys):
    """The mixed-batch column: base-model requests sent together with the adapter's must still answer
    like transformers without the adapter (vLLM's CPU LoRA ops once applied the adapter to them)."""
    calls = stand_ins({"merged-own-model": "match", "med-lora": "match", "base": "MISMATCH@2"})
    code, table = run_parity(tmp_path)
    assert code == 1 and [r["base_beside_lora"] for r in table["rows"]] == ["MISMATCH@2"] * 2
    assert ("lora", "base", "med-lora") in calls["asked"]
    assert "base+lora = the base model answered with an adapter's weights" in capsys.readouterr().err


def test_a_data_parallel_server_is_checked_on_every_replica(tmp_path, stand_ins, capsys):
    stand_ins({"med-lora@1": "MISMATCH@2"}, replicas=2)  # the second replica of the LoRA server answers otherwise
    code, table = run_parity(tmp_path)
    assert code == 1
    assert table["exact_matches"] == {"merged@rank0": 2, "merged@rank1": 2, "lora@rank0": 2, "lora@rank1": 0,
                                      "base_beside_lora@rank0": 2, "base_beside_lora@rank1": 2}
    assert "vllm lora@1" in capsys.readouterr().out


def test_a_16bit_server_is_judged_by_the_16bit_tolerance(tmp_path, stand_ins):
    """Served in bfloat16 (serve.dtype auto on a CPU with AVX-512 BF16 or AMX): the same served tokens,
    3 logits from the reference's choice, are numerics within parity.tolerance_16bit and a mismatch beyond."""
    stand_ins({"med-lora": "MISMATCH@2"}, dtype="bfloat16")
    code, table = run_parity(tmp_path, "parity.tolerance_16bit=5")
    assert code == 0 and table["rows"][0]["lora"] == "numerics@2" and table["rows"][0]["largest_gap"]["lora"] == 3.0
    assert table["columns"]["lora"] == {"dtype": "bfloat16", "tolerance": 5.0}
    code, table = run_parity(tmp_path, "parity.tolerance_16bit=2")
    assert code == 1 and table["rows"][0]["lora"] == "MISMATCH@2"
    stand_ins({"med-lora": "MISMATCH@2"}, dtype="float32")
    code, table = run_parity(tmp_path, "parity.tolerance_16bit=5")  # not this server's tolerance
    assert code == 1 and table["columns"]["lora"]["tolerance"] == 0.001


def test_a_headless_node_sends_parity_to_node_0(tmp_path, stand_ins, capsys):
    stand_ins({})
    code = parity.main(["recipes/quickstart.yaml", f"run_dir={tmp_path}", "serve.data_parallel_size=2",
                        "serve.data_parallel_nodes.size_local=1", "serve.data_parallel_nodes.address=127.0.0.1",
                        "serve.data_parallel_nodes.rpc_port=13345", "serve.data_parallel_nodes.start_rank=1"])
    assert code == 2 and "run `make parity` on node 0" in capsys.readouterr().err
