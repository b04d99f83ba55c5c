"""`make eval` (evaluation/evaluate.py): every target of the recipe's eval section over HTTP.

Run as:
    python -m evaluation recipes/quickstart.yaml [eval.limit=20 eval.concurrency=4 ...]
           [--serving-items 16] [--no-progress]
"""
import argparse
import sys

from core.stage import cli, command_status
from evaluation import evaluate, suites


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=evaluate.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--serving-items", type=int, default=suites.SERVING_ITEMS,
                        help="items streamed one at a time per target for the serving figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_intermixed_args(argv)
    if args.serving_items < 0:
        parser.error("--serving-items must be >= 0")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    return cli([args.recipe, *args.overrides], evaluate.run, serving_items=args.serving_items,
               progress=not args.no_progress)


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
