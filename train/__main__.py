"""`make train`: LoRA / full / QLoRA SFT through `llamafactory-cli train` (train/training.py).

Run as:
    python -m train recipes/quickstart.yaml [key.sub=value ...]
"""
import sys

from core.stage import cli
from train.training import run

if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:], run))
