"""`make parity`: does the served model answer exactly like the trained one?

Greedy decoding of the same chats through three paths, compared token for token:
  hf      transformers + peft, base with the adapter (how LLaMA-Factory trained it)
  merged  vLLM serving the merged export (not checked, with a note, before `make export`)
  lora    vLLM serving the base with the adapter mounted (--enable-lora)
  base+lora  the same server answering as the base model, each request sent together with the
          adapter's for the same chat so that they share batches, against transformers without the
          adapter: vLLM's CPU LoRA ops once gave base-model tokens in such a batch the adapter's delta
          (SPARE_LORA_SLOT in serve/vllm_cmd.py)
Once the recipe's preference stage has finished (its done stamp), one more column: vLLM serving the
preference adapter under its served name, in the mode that mounts it (serve/vllm_cmd.py: lora for
start_from adapter, merged for start_from merged), against transformers + peft with that adapter on
what that server loads (the base model, or the merged SFT model).
Once `make quantize` has run (a recipe with a quantize section), one more column: vLLM serving the
quantized model against transformers on the merged model it was made from. Rounded weights move every
logit, so it is judged by agreement, not token for token: a served token agrees when the full-precision
model, fed the quantized output, ranks it within parity.tolerance_quantized logits of its own top-1
('agree a/n' per prompt); the column fails (BELOW) when fewer than parity.agreement_quantized of a
prompt's tokens agree, and the share over every prompt is reported (parity.json: token_agreement).
On a data-parallel server (serve.data_parallel_size) each column is checked on every replica, asked
one by one with vLLM's X-data-parallel-rank header (columns merged@0, merged@1, ...).
Prompt token ids are compared too: vLLM's against the tokenizer's chat template
(PROMPT), and that against the prompt LLaMA-Factory's `model.template` built in
training (TRAIN-PROMPT: the model is served in another format than it learnt).
The set always ends with the first chat again without its system message, since
a chat template's default system prompt is where training and serving most often part.
A served output that differs is put down to numerics only when the HF reference, fed that output
token by token (train/hf_generate.py), would have picked each of its tokens within the tolerance:
its top-1 logit less than parity.tolerance (float32 servers) or parity.tolerance_16bit (bfloat16,
float16) above the served token's. Anything else is a mismatch, and the command exits 1.

Servers already started by `make serve` for this recipe (either mode) are used
as they are (one started before the preference adapter was trained does not serve it: restart it);
a missing one is started on a free port for the check and stopped after.

Run as:
    python -m serve.parity recipes/quickstart.yaml [parity.prompts=16 ...]
"""
from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from core.chat_rows import prompt_messages, split_rows
from core.endpoints import api_key, bearer
from core.layout import RunLayout, base_model_path
from core.logged import run_logged
from core.recipe.packaged import default_system
from core.recipe.schema import Recipe
from core.stage import StageFailed, begin, cli, command_status
from envs import bin_of
from serve import process
from serve.servers import vllm_server
from serve.vllm_cmd import model_path, preference_paths
from train.base_model import ensure_base_model

MODES = ("merged", "lora")  # the modes that can mount the preference adapter
RANK_HEADER = "X-data-parallel-rank"  # vLLM routes a request to this replica of its data-parallel engines
FAILING = ("MISMATCH", "PROMPT", "TRAIN-PROMPT", "BELOW")  # verdicts that make `make parity` exit 1
MISMATCH_HELP = ("served outputs differ from the trained model beyond numerics. TRAIN-PROMPT = "
                 "model.template formats prompts differently from the tokenizer's chat template that vLLM "
                 "uses (pick the template that matches, e.g. its default system prompt); PROMPT = vLLM's "
                 "prompt differs from the chat template; MISMATCH@i = tokens differ at step i (check EOS / "
                 "generation_config / max_lora_rank); a MISMATCH under base+lora = the base model answered "
                 "with an adapter's weights when batched beside it (see SPARE_LORA_SLOT in serve/vllm_cmd.py).")


def without_system(chat: list[dict]) -> list[dict]:
    return [m for m in chat if m["role"] != "system"]


def load_chats(recipe: Recipe, n: int) -> list[list[dict]]:
    chats, layout = [], RunLayout.of(recipe)
    for split in ("test", "validation", "train"):
        path = layout.split(split)
        if not path.exists():
            continue
        for row in split_rows(path):
            chats.append(prompt_messages(row))
            if len(chats) == n:
                return chats
    if not chats:
        raise StageFailed(f"no examples in {layout.data}/; run `make data` first")
    return chats


@dataclass(frozen=True)
class Reference:
    """transformers + peft: `adapter` on `base`, the model as LLaMA-Factory trained it (no adapter: the base)."""
    name: str      # sft, preference, or base
    base: str      # the model the adapter was trained on: the base, or the merged SFT model
    adapter: Path | None


@dataclass(frozen=True)
class Column:
    """One column of the table: the vLLM server of `mode` answering as `model`, against `reference`."""
    name: str            # its key in parity.json: merged, lora, base_beside_lora or preference
    label: str           # its header in the table: merged, lora, base+lora, or the preference method (dpo, ...)
    mode: str            # the vLLM server: merged or lora
    model: str | None    # the served model name; None: the server's own model (the merged export)
    reference: Reference
    beside: str | None = None  # a served model asked the same chats at the same time (shared batches)
    rank: int | None = None    # a data-parallel server's replica, asked by vLLM's X-data-parallel-rank header
    dtype: str = "float32"     # what the server computes in (its pid record): picks the tolerance
    quantized: bool = False    # judged by its share of agreeing tokens, not token for token


def preference_columns(recipe: Recipe) -> list[Column]:
    """The preference adapter's column, in the mode that mounts it; none until its stage has finished."""
    if recipe.preference is None or not RunLayout.of(recipe).preference_done(recipe.preference.method).exists():
        return []
    mode = next(m for m in MODES if preference_paths(recipe, m))
    (name, adapter), = preference_paths(recipe, mode).items()
    return [Column("preference", recipe.preference.method, mode, name,
                   Reference("preference", model_path(recipe, mode), adapter))]


def quantized_columns(recipe: Recipe, layout: RunLayout) -> tuple[list[Column], dict[str, str]]:
    """The quantized model against transformers on the merged model it was made from, once `make quantize`
    has run for a recipe with a quantize section."""
    if recipe.quantize is None:
        return [], {}
    if not layout.quantize_done.exists():
        return [], {"quantized": f"no quantized model in {layout.quantized}/ (run `make quantize`)"}
    merged = Reference("merged", str(layout.merged.resolve()), None)
    return [Column("quantized", "quantized", "quantized", None, merged, quantized=True)], {}


def columns(recipe: Recipe) -> tuple[list[Column], dict[str, str]]:
    """The columns to check, and why the others cannot be (no merged model before `make export`)."""
    layout = RunLayout.of(recipe)
    sft = Reference("sft", base_model_path(recipe), layout.trained)
    adapter = recipe.serve.adapters[0].name
    wanted = [Column("merged", "merged", "merged", None, sft), Column("lora", "lora", "lora", adapter, sft),
              Column("base_beside_lora", "base+lora", "lora", recipe.serve.base_name,
                     Reference("base", base_model_path(recipe), None), beside=adapter),
              *preference_columns(recipe)]
    skipped = {c.name: f"no merged model in {layout.merged}/ (run `make export`)"
               for c in wanted if c.mode == "merged" and not layout.has_merged}
    quantized, not_quantized = quantized_columns(recipe, layout)
    return [c for c in wanted if c.name not in skipped] + quantized, {**skipped, **not_quantized}


def hf_references(recipe: Recipe, checked: list[Column], chats: list[list[dict]], served: dict[str, list[dict]],
                  out: Path) -> dict[str, list[dict]]:
    """{reference name: per chat its prompt, greedy output ids and the gaps of each served output it was fed},
    all from one train-env process."""
    log = RunLayout.of(recipe).log("parity")
    references = list({c.reference: None for c in checked})
    requests = [{"base": ref.base, "adapter": str(ref.adapter.resolve()) if ref.adapter else None,
                 "template": recipe.model.template,
                 "default_system": default_system(recipe.model.name_or_path),
                 "max_new_tokens": recipe.parity.max_new_tokens, "chats": chats,
                 "served": {c.name: [o["output_ids"] for o in served[c.name]] for c in checked if c.reference == ref}}
                for ref in references]
    req_file, res_file = out / "hf_requests.json", out / "hf_results.json"
    req_file.write_text(json.dumps(requests, ensure_ascii=False), encoding="utf-8")
    code = run_logged([bin_of("train"), "-m", "train.hf_generate", str(req_file), str(res_file)],
                      log, {"HF_HUB_OFFLINE": "1"})
    if code != 0:
        raise StageFailed(f"HF reference generation failed; see {log}")
    return {ref.name: results for ref, results in zip(references, json.loads(res_file.read_text()))}


def vllm_outputs(url: str, model: str, key: str | None, chats: list[list[dict]], max_tokens: int,
                 beside: str | None = None, rank: int | None = None) -> list[dict]:
    """`model`'s greedy answer to each chat, one request at a time; with `beside`, every chat is asked
    of both models at once (2 x chats requests in flight, so vLLM batches them together); with `rank`,
    by that replica of a data-parallel server."""
    headers = {**bearer(key), **({RANK_HEADER: str(rank)} if rank is not None else {})}

    def ask(client: httpx.Client, name: str, chat: list[dict]) -> dict:
        body = {"model": name, "messages": chat, "max_tokens": max_tokens, "temperature": 0,
                "return_token_ids": True}
        reply = client.post(f"{url}/chat/completions", json=body, headers=headers)
        if reply.status_code == 404:  # vLLM's answer for a model name it does not serve
            raise StageFailed(f"vLLM at {url} does not serve {name!r} (started before that adapter was "
                              f"trained?): restart it (`make stop`, `make serve`), then parity again. "
                              f"vLLM said: {reply.text[:300]}")
        reply.raise_for_status()
        data = reply.json()
        return {"prompt_ids": data.get("prompt_token_ids"), "output_ids": data["choices"][0].get("token_ids") or [],
                "text": data["choices"][0]["message"]["content"]}

    with httpx.Client(timeout=120) as client:
        if beside is None:
            return [ask(client, model, chat) for chat in chats]
        with ThreadPoolExecutor(max_workers=2 * len(chats)) as pool:
            pairs = [(pool.submit(ask, client, model, chat), pool.submit(ask, client, beside, chat)) for chat in chats]
            for _, other in pairs:
                other.result()  # re-raises a failed request of the other model
            return [mine.result() for mine, _ in pairs]


def compare(ref: dict, got: dict, gaps: list[float], eos_ids: set[int], tolerance: float) -> str:
    """'match', 'numerics@i' (first differing step), 'MISMATCH@j' (first token beyond the tolerance),
    'PROMPT' or 'TRAIN-PROMPT' (different prompt tokens). `gaps`: per served token, the reference's
    top-1 logit minus that token's."""
    if ref.get("train_prompt_ids") is not None and ref["train_prompt_ids"] != ref["prompt_ids"]:
        return "TRAIN-PROMPT"
    if got["prompt_ids"] is not None and got["prompt_ids"] != ref["prompt_ids"]:
        return "PROMPT"
    a = [t for t in ref["output_ids"]]
    b = [t for t in got["output_ids"]]
    while a and a[-1] in eos_ids:  # both stop at EOS; only one side may report it
        a.pop()
    while b and b[-1] in eos_ids:
        b.pop()
    if a == b:
        return "match"
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    beyond = next((k for k, gap in enumerate(gaps) if gap > tolerance), None)
    if len(gaps) < len(b):  # nothing to judge the rest by: a served output the reference was not fed
        beyond = len(gaps) if beyond is None else beyond
    return f"numerics@{i}" if beyond is None else f"MISMATCH@{beyond}"


def agreement(ref: dict, got: dict, gaps: list[float], tolerance: float, least: float) -> str:
    """A quantized model's verdict: 'agree a/n' when at least `least` of its n served tokens are ones the
    full-precision reference, fed the same output, ranks within `tolerance` logits of its own top-1;
    'BELOW a/n' otherwise. Token for token cannot hold: rounded weights move every logit."""
    if got["prompt_ids"] is not None and got["prompt_ids"] != ref["prompt_ids"]:
        return "PROMPT"
    agreeing = sum(gap <= tolerance for gap in gaps)
    total = max(len(gaps), 1)
    return f"{'agree' if agreeing / total >= least else 'BELOW'} {agreeing}/{len(gaps)}"


def tolerance_for(recipe: Recipe, dtype: str) -> float:
    """parity.tolerance for a float32 server, parity.tolerance_16bit for any other (vLLM's auto on a GPU
    computes in bfloat16 or float16)."""
    return recipe.parity.tolerance if dtype == "float32" else recipe.parity.tolerance_16bit


def ensure_server(recipe: Recipe, mode: str, started: list) -> dict:
    """The running server of `mode`, or a temporary one when there is none."""
    running = process.read_record(RunLayout.of(recipe).pid_file(f"vllm-{mode}"))
    if running:
        return running
    spec = vllm_server(recipe, mode=mode, port=process.free_port(), server=f"parity-{mode}",
                       name=f"vLLM parity ({mode})")
    print(f"   starting a temporary vLLM ({mode}) on port {spec.plan.port}")
    record = process.start(spec)
    started.append(spec.pid_file)
    return record


def per_replica(column: Column, record: dict) -> list[Column]:
    """The column once per replica of a data-parallel server (each holds its own copy of the model)."""
    replicas = record.data_parallel_size
    if replicas == 1:
        return [column]
    return [replace(column, name=f"{column.name}@rank{r}", label=f"{column.label}@{r}", rank=r)
            for r in range(replicas)]


def served_outputs(recipe: Recipe, wanted: list[Column],
                   chats: list[list[dict]]) -> tuple[list[Column], dict[str, list[dict]]]:
    """The columns checked (one per replica of a data-parallel server) and {column name: per chat what vLLM
    answered}; one server per mode, temporary ones stopped after."""
    started: list[Path] = []
    servers: dict[str, dict] = {}
    served: dict[str, list[dict]] = {}
    checked: list[Column] = []
    try:
        for wanted_column in wanted:
            if wanted_column.mode not in servers:
                servers[wanted_column.mode] = ensure_server(recipe, wanted_column.mode, started)
            record = servers[wanted_column.mode]
            for column in per_replica(replace(wanted_column, dtype=record.dtype or "float32"), record):
                served[column.name] = vllm_outputs(record.url, column.model or record.models[0],
                                                   api_key(recipe), chats, recipe.parity.max_new_tokens,
                                                   beside=column.beside, rank=column.rank)
                checked.append(column)
    finally:
        for file in started:
            process.stop(file)
    return checked, served


@dataclass
class ParityResult:
    rows: list[dict]             # per prompt: hf_tokens (of the SFT reference) and a verdict per column
    exact_matches: dict[str, int]
    failed: bool                 # a verdict beyond numerics (PROMPT, TRAIN-PROMPT, MISMATCH, BELOW)
    agreement: dict[str, float]  # quantized columns: share of served tokens within the tolerance


def verdict_rows(recipe: Recipe, refs: dict[str, list[dict]], served: dict[str, list[dict]], checked: list[Column],
                 chats: list[list[dict]], eos_ids: set[int]) -> ParityResult:
    """Compare every prompt's HF reference with each served column; print the table."""
    rows, failed = [], False
    print(f"\n   {'#':>3s}  {'hf tokens':>9s}  " + "".join(f"{'vllm ' + c.label:14s}  " for c in checked)
          + "vllm text (start)")
    for i, chat in enumerate(chats):
        gaps = {c.name: refs[c.reference.name][i]["gaps"][c.name] for c in checked}
        verdicts = {c.name: agreement(refs[c.reference.name][i], served[c.name][i], gaps[c.name],
                                      recipe.parity.tolerance_quantized, recipe.parity.agreement_quantized)
                    if c.quantized else
                    compare(refs[c.reference.name][i], served[c.name][i], gaps[c.name], eos_ids,
                            tolerance_for(recipe, c.dtype)) for c in checked}
        failed |= any(v.startswith(FAILING) for v in verdicts.values())
        shown = next(c.name for c in checked if c.mode == "lora" and c.beside is None)
        tokens, text = len(refs["sft"][i]["output_ids"]), served[shown][i]["text"].replace("\n", "⏎")[:24]
        print(f"   {i:3d}  {tokens:9d}  " + "".join(f"{v:14s}  " for v in verdicts.values()) + text)
        rows.append({"prompt": i, "system": "given" if chat[0]["role"] == "system" else "default",
                     "hf_tokens": tokens, **verdicts,
                     "largest_gap": {name: round(max(g, default=0.0), 6) for name, g in gaps.items()}})
    return ParityResult(rows, {c.name: sum(row[c.name] == "match" for row in rows) for c in checked}, failed,
                        {c.name: token_agreement(rows, c.name) for c in checked if c.quantized})


def token_agreement(rows: list[dict], column: str) -> float:
    """Agreeing tokens over served tokens, every prompt together (the 'agree a/n' verdicts summed)."""
    pairs = [row[column].split()[-1].split("/") for row in rows if "/" in row[column]]
    total = sum(int(n) for _, n in pairs)
    return sum(int(a) for a, _ in pairs) / total if total else 0.0


def report(recipe: Recipe, result: ParityResult, checked: list[Column], skipped: dict[str, str]) -> dict:
    """parity.json: the rows, exact matches per column, each column's dtype and tolerance, what was not checked,
    what the preference column served."""
    table = {"rows": result.rows, "exact_matches": result.exact_matches,
             "columns": {c.name: {"dtype": c.dtype, "tolerance": tolerance_for(recipe, c.dtype)} for c in checked}}
    for name, share in result.agreement.items():
        table["columns"][name] = {**table["columns"][name], "tolerance": recipe.parity.tolerance_quantized,
                                  "token_agreement": round(share, 4), "least": recipe.parity.agreement_quantized}
    if skipped:
        table["skipped"] = skipped
    for column in checked:
        if column.name == "preference":
            table["preference"] = {"model": column.model, "mode": column.mode, "base": column.reference.base,
                                   "adapter": str(column.reference.adapter)}
    return table


def eos_token_ids(model_dir: Path) -> set[int]:
    config = model_dir / "generation_config.json"
    eos = json.loads(config.read_text()).get("eos_token_id", []) if config.exists() else []
    return set(eos if isinstance(eos, list) else [eos])


def run(recipe: Recipe) -> ParityResult:
    """StageFailed (exit 1) when a served path differs from the trained model beyond numerics."""
    nodes = recipe.serve.data_parallel_nodes
    if nodes is not None and nodes.headless:
        raise StageFailed(f"this recipe is a headless data-parallel node (serve.data_parallel_nodes.start_rank "
                          f"{nodes.start_rank}); run `make parity` on node 0, which checks every node's replicas", 2)
    out = begin(recipe, "parity").parity
    out.mkdir(exist_ok=True)
    ensure_base_model(recipe)
    chats = load_chats(recipe, recipe.parity.prompts)
    if chats[0] != without_system(chats[0]):
        chats.append(without_system(chats[0]))  # the chat template's default system prompt
    print(f"== parity: {len(chats)} prompts (the last without a system message), greedy, "
          f"max {recipe.parity.max_new_tokens} new tokens")
    checked, skipped = columns(recipe)
    for name, why in skipped.items():
        print(f"   {name}: not checked, {why}")
    checked, served = served_outputs(recipe, checked, chats)
    refs = hf_references(recipe, checked, chats, served, out)
    result = verdict_rows(recipe, refs, served, checked, chats, eos_token_ids(Path(base_model_path(recipe))))
    (out / "parity.json").write_text(json.dumps(report(recipe, result, checked, skipped), indent=2))
    n = len(result.rows)
    print("\n   exact: " + ", ".join(f"{c.label} {result.exact_matches[c.name]}/{n}" for c in checked)
          + "".join(f"; {name} token agreement {share:.1%} (at least {recipe.parity.agreement_quantized:.0%})"
                    for name, share in result.agreement.items())
          + f"; table in {out}/parity.json")
    if result.failed:
        raise StageFailed(MISMATCH_HELP)
    return result


def main(argv: list[str]) -> int:
    return cli(argv, run)


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
