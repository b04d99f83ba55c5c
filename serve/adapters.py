"""`make adapter`: add or remove a LoRA adapter on the running vLLM server, without a restart.

    make adapter RECIPE=r.yaml ADD=med-v2 DIR=runs/other/adapter
    make adapter RECIPE=r.yaml REMOVE=med-v2
    make adapter RECIPE=r.yaml                       # list what is served

It calls vLLM's own runtime endpoints (/v1/load_lora_adapter, /v1/unload_lora_adapter),
with the key when one is set; the recipe must have `serve.runtime_adapters: true` (vLLM
opens those endpoints only with VLLM_ALLOW_RUNTIME_LORA_UPDATING, which `make serve` then
sets). /v1/models of vLLM and of the gateway (with the -rag variant) list the change at
once, since the gateway asks vLLM each time. The set is recorded in
<run_dir>/serve/adapters.json (serve/adapter_record.py), so `make serve` after a restart
mounts the same adapters.

Checked before anything is sent, so a refused change leaves the server as it was: a name
already served, a folder without adapter_config.json, a rank above the server's
--max-lora-rank (raise serve.max_lora_rank and restart), on CPU one adapter more than
serve.max_loras (see SPARE_LORA_SLOT in serve/vllm_cmd.py), a name reloaded from files that
changed since this server served it. The last one matters because vLLM's prefix cache keys
its blocks by adapter name and folder: a retrained adapter written into the same folder
under the same name could be answered from cached blocks of the old weights.

Run as:
    python -m serve.adapters RECIPE [--add NAME --dir FOLDER | --remove NAME] [key=value ...]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import httpx

from core.endpoints import api_key, models_answer
from core.errors import StageFailed
from core.layout import RunLayout
from core.recipe.schema import Recipe
from core.server_record import ServerRecord
from core.stage import command_status, recipe_from_argv
from serve import adapter_record, process
from serve.vllm_cmd import lora_rank

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def fingerprint(folder: Path) -> list:
    """Size and modification time of the adapter's files: changes when it is retrained in place."""
    return sorted([f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in folder.iterdir()
                  if f.is_file() and f.name.startswith("adapter_"))


def running_server(recipe: Recipe) -> ServerRecord:
    record = process.read_record(RunLayout.of(recipe).pid_file("vllm-lora"))
    if not record or not record.leader_alive:
        raise StageFailed(f"no LoRA-mode vLLM is running for '{recipe.name}'; start it with `make serve`")
    if not recipe.serve.runtime_adapters:
        raise StageFailed("the server was not started for runtime adapters; set serve.runtime_adapters: true "
                          "in the recipe and restart it (`make stop`, `make serve`)")
    return record


def served_models(record: ServerRecord, key: str | None) -> list[str]:
    listed = models_answer(record.url, key)
    if listed is None:
        raise StageFailed(f"vLLM at {record.url} does not answer /models; see `make status`")
    return listed


def call(record: ServerRecord, key: str | None, route: str, body: dict) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        reply = httpx.post(f"{record.url}/{route}", json=body, headers=headers, timeout=300)
    except httpx.HTTPError as exc:
        raise StageFailed(f"vLLM at {record.url} did not answer {route}: {exc}") from None
    if reply.status_code != 200:
        raise StageFailed(f"vLLM refused {route} ({reply.status_code}): {reply.text[:500]}")


def current_record(recipe: Recipe, server: ServerRecord) -> dict:
    """The adapters record, with 'served' reset when the server was restarted since."""
    record = adapter_record.read(recipe)
    if record["served"].get("started") != server.started:
        record["served"] = {"started": server.started, "fingerprints": {}}
    return record


def add(recipe: Recipe, name: str, folder: Path) -> str:
    if not NAME.match(name):
        raise StageFailed(f"adapter name {name!r}: use letters, digits, '.', '_' or '-'")
    server, key = running_server(recipe), api_key(recipe)
    adapters = served_models(server, key)[1:]  # the first model is the base
    if name in adapters:
        raise StageFailed(f"'{name}' is already served; remove it first (REMOVE={name}) or pick another name")
    folder = folder.resolve()
    if not folder.is_dir():
        raise StageFailed(f"no adapter folder {folder}")
    rank = lora_rank(folder)  # exits when adapter_config.json is missing
    limit = server.max_lora_rank
    if limit is None or rank > limit:
        raise StageFailed(f"{folder} has LoRA rank {rank} but the server mounts at most rank {limit}; "
                          f"set serve.max_lora_rank: {rank} (or more) and restart (`make stop`, `make serve`)")
    most = server.max_adapters  # CPU only: vLLM's LoRA slots less the spare one (serve/vllm_cmd.py)
    if most is not None and len(adapters) >= most:
        raise StageFailed(f"the server serves {len(adapters)} adapter(s), the most it can on CPU without "
                          f"vLLM applying an adapter to base-model requests batched beside it; set "
                          f"serve.max_loras: {len(adapters) + 1} (or more) and restart (`make stop`, `make serve`)")
    record = current_record(recipe, server)
    seen = record["served"]["fingerprints"].get(name)
    now = fingerprint(folder)
    if seen and seen["path"] == str(folder) and seen["fingerprint"] != now:
        raise StageFailed(f"'{name}' was served from {folder} before its files changed; vLLM's prefix cache "
                          f"could answer with the old weights. Add it under a new name, or restart the server")
    call(server, key, "load_lora_adapter", {"lora_name": name, "lora_path": str(folder)})
    record["served"]["fingerprints"][name] = {"path": str(folder), "fingerprint": now}
    record["added"][name] = str(folder)
    record["removed"] = [n for n in record["removed"] if n != name]
    adapter_record.write(recipe, record)
    return f"added '{name}' (rank {rank}) from {folder}"


def remove(recipe: Recipe, name: str) -> str:
    server, key = running_server(recipe), api_key(recipe)
    listed = served_models(server, key)
    if name not in listed[1:]:  # the first model is the base, which cannot be unloaded
        raise StageFailed(f"'{name}' is not a served adapter; served: {', '.join(listed[1:]) or 'none'}")
    call(server, key, "unload_lora_adapter", {"lora_name": name})
    record = current_record(recipe, server)
    if record["added"].pop(name, None) is None and name not in record["removed"]:
        record["removed"].append(name)  # one of the recipe's own adapters
    adapter_record.write(recipe, record)
    return f"removed '{name}'"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve.adapters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    change = parser.add_mutually_exclusive_group()
    change.add_argument("--add", metavar="NAME")
    change.add_argument("--remove", metavar="NAME")
    parser.add_argument("--dir", type=Path, help="the adapter folder (with --add)")
    args = parser.parse_intermixed_args(argv)
    if bool(args.add) != bool(args.dir):
        parser.error("--add NAME needs --dir FOLDER (make adapter ADD=name DIR=folder), and --dir needs --add")
    recipe = recipe_from_argv([args.recipe, *args.overrides])
    if args.add:
        print(f"== adapter: {add(recipe, args.add, args.dir)}")
    elif args.remove:
        print(f"== adapter: {remove(recipe, args.remove)}")
    server = running_server(recipe)
    listed = served_models(server, api_key(recipe))
    print(f"   served at {server.url}: {', '.join(listed)}")
    print(f"   recorded for the next `make serve`: {json.dumps({k: v for k, v in adapter_record.read(recipe).items() if k != 'served'})}")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
