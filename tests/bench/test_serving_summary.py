"""make bench's summary: which means each ratio sets side by side (fixed rounds, no servers)."""
from __future__ import annotations

from bench.serving import GATEWAY, summarise


def rounds_of(tok_s: dict[tuple[str, str], list[float]]) -> list[dict]:
    return [{"engine": engine, "placement": placement, "round": i + 1, "levels": [{"tokens_per_s": v}]}
            for (engine, placement), values in tok_s.items() for i, v in enumerate(values)]


def test_make_serve_is_set_against_the_best_hand_launch_in_both_placements():
    rounds = rounds_of({("make-serve", "caller"): [4000, 4400], ("make-serve", "own"): [3900, 4100],
                        ("plain-vllm", "caller"): [5000, 5000], ("plain-vllm", "own"): [1000, 1400],
                        ("transformers", "caller"): [400, 400], ("transformers", "own"): [380, 420],
                        (GATEWAY, "caller"): [3800, 4000], (GATEWAY, "own"): [3600, 3600]})
    caller, own = summarise(rounds, [32])
    assert (caller["placement"], own["placement"]) == ("caller", "own")
    assert caller["make-serve"] == {"mean": 4200.0, "min": 4000, "max": 4400, "rounds": 2}
    # both against plain vLLM with its client in the same session (5000), never the starved 1200
    assert caller["make-serve/plain-vllm"] == 0.84 and own["make-serve/plain-vllm"] == 0.8
    assert caller["make-serve/transformers"] == 10.5 and own["make-serve/transformers"] == 10.0
    assert caller["gateway/direct"] == round(3900 / 4200, 2) and own["gateway/direct"] == 0.9


def test_ratios_are_left_out_where_an_engine_was_not_run():
    caller, own = summarise(rounds_of({("make-serve", "caller"): [4000], ("make-serve", "own"): [4000]}), [32])
    assert "make-serve/plain-vllm" not in caller and "gateway/direct" not in own


def test_the_data_parallel_engine_is_make_serve_with_two_replicas(tmp_path, monkeypatch):
    import json
    from bench.serving import engine_launch
    from core.recipe.load import load_recipe
    from tests.conftest import ROOT
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    (tmp_path / "merged").mkdir()
    (tmp_path / "merged" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}", "serve.mode=merged"])
    two = " ".join(engine_launch("make-serve-dp2", recipe, 9000)["argv"])
    one = " ".join(engine_launch("make-serve", recipe, 9000)["argv"])
    assert "--data-parallel-size 2" in two and two.replace(" --data-parallel-size 2", "") == one
    assert recipe.serve.data_parallel_size == 1  # the recipe itself is left as it was
    caller, _ = summarise(rounds_of({("make-serve", "caller"): [4000], ("make-serve-dp2", "caller"): [3000],
                                     ("make-serve", "own"): [4000]}), [32])
    assert caller["make-serve-dp2/make-serve"] == 0.75
