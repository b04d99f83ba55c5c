"""`medkit COMMAND RECIPE [key.sub=value ...]`: every stage of the toolkit behind one command.

The make targets call it (`make train` runs `medkit train $(RECIPE) $(ARGS)`), and `make setup`
puts a `medkit` command into the app environment (envs/manage.py writes it). Each command is the
`main(argv)` of one module; this table is the one list of them. A StageFailed from any of them
becomes the exit status here (core/stage.py command_status), so the commands print one line
"error: ..." instead of a traceback.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Optional

from core.stage import command_status


@dataclass(frozen=True)
class Command:
    module: str            # whose main(argv) runs the command
    summary: str
    prefix: tuple = ()     # arguments put before the user's (serve's start / stop / status)


COMMANDS = {
    "validate": Command("medkit.validate", "validate recipes and print every error at once"),
    "data": Command("converters.build", "convert the recipe's data sources into LLaMA-Factory datasets"),
    "convert": Command("converters.__main__", "convert one source by hand: FORMAT SRC... --out DIR"),
    "train": Command("train.__main__", "LLaMA-Factory training on the rendered recipe (resumes)"),
    "export": Command("train.export", "merge the adapter into the base model and check the export"),
    "quantize": Command("train.quantize", "compress the merged model for vLLM (llmcompressor: w8a8, w4a16)"),
    "index": Command("serve.rag.index", "build or update the Chroma + BM25 index of the corpus"),
    "serve": Command("serve.__main__", "start vLLM (and the RAG gateway) and wait until ready", ("start",)),
    "stop": Command("serve.__main__", "stop what `medkit serve` started for the recipe", ("stop",)),
    "status": Command("serve.__main__", "list the servers started from any run directory", ("status",)),
    "adapter": Command("serve.adapters", "add or remove a LoRA adapter while serving"),
    "parity": Command("serve.parity", "greedy outputs: transformers vs vLLM merged vs vLLM with the adapter"),
    "eval": Command("evaluation.__main__", "base vs SFT vs SFT+RAG over HTTP: metrics, report, plots"),
    "bench": Command("bench.serving", "serving throughput: make serve vs vLLM by hand vs transformers"),
    "demo": Command("demo.__main__", "the Gradio demo over the served endpoint"),
    "quickstart": Command("scripts.quickstart", "the whole pipeline, offline, on CPU"),
}


def usage() -> str:
    rows = "\n".join(f"  {name:11s} {command.summary}" for name, command in COMMANDS.items())
    return f"usage: medkit COMMAND RECIPE.yaml [key.sub=value ...]\n\ncommands:\n{rows}"


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"medkit: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    entry = importlib.import_module(command.module)
    return command_status(entry.main, [*command.prefix, *argv[1:]])
