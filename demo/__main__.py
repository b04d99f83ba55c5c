"""`make demo` (demo/app.py): the Gradio chat over the served endpoint.

Run as:
    python -m demo recipes/quickstart.yaml [demo.port=7861 demo.host=0.0.0.0 ...]
"""
import sys

from core.stage import cli

if __name__ == "__main__":
    from demo.app import run  # imports Gradio: after the recipe's arguments are known to be there

    # the demo needs no data files, so their paths are not checked
    sys.exit(cli(sys.argv[1:], run, show_recipe=False, check_files=False))
