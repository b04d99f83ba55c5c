"""`python -m medkit COMMAND ...`: the same as the `medkit` command (medkit/cli.py)."""
import sys

from medkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
