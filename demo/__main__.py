"""`make demo` (demo/app.py): the Gradio chat over the served endpoint.

Run as:
    python -m demo recipes/quickstart.yaml [demo.port=7861 demo.host=0.0.0.0 ...]
"""
import sys

from core.stage import cli


def main(argv: list[str]) -> int:
    from demo.app import run  # imports Gradio: only when the demo starts
    # the demo needs no data files, so their paths are not checked
    return cli(argv, run, show_recipe=False, check_files=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
