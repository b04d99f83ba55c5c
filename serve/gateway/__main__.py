"""The RAG gateway in the foreground (serve/gateway/server.py); `make serve` starts it in the background.

Run as:
    python -m serve.gateway recipes/quickstart.yaml [rag.gateway.port=8101 ...]
"""
import sys

from core.stage import cli
from serve.gateway.server import run

if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:], run, show_recipe=False))
