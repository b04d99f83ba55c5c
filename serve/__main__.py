"""`make serve` / `make stop` / `make status` (serve/control.py).

Run as:
    python -m serve start  recipes/quickstart.yaml [serve.mode=merged serve.port=8001 ...]
    python -m serve stop   recipes/quickstart.yaml
    python -m serve status [RUNS_ROOT ...]
"""
import sys
from pathlib import Path

from core.stage import cli, command_status, exit_status
from serve import control


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "start":
        return cli(rest, control.start)
    if command == "stop":
        return cli(rest, control.stop, show_recipe=False)
    if command == "status":
        return exit_status(lambda: control.status([Path(a) for a in rest]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))

