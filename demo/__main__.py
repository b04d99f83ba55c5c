"""Entry point of `make demo`.

Run as:
    python -m demo recipes/quickstart.yaml [demo.port=7861 demo.host=0.0.0.0 ...]
"""
import sys

from demo.app import main

sys.exit(main(sys.argv[1:]))
