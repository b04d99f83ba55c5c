"""The one error type below the command line.

Library code and stages raise StageFailed (a message that says why and what to do, and the exit
status the command should end with: 1 a failure, 2 a configuration error). Only the command line
turns it into an exit status and a message on stderr (core/stage.py exit_status, used by every
`__main__` and by medkit/cli.py). Nothing below `__main__` raises SystemExit or calls sys.exit.
"""
from __future__ import annotations


class StageFailed(Exception):
    """A stage refused or failed; the message says why and what to do. `code` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
