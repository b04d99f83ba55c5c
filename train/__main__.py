"""`make train`: LoRA / full / QLoRA SFT through `llamafactory-cli train` (train/training.py).

Run as:
    python -m train recipes/quickstart.yaml [key.sub=value ...]
"""
import sys

from core.stage import cli
from train.training import run

def main(argv: list[str]) -> int:
    return cli(argv, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
