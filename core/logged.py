"""Run a child process with its output both on the terminal and in a log file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_logged(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {})}
    # The toolkit's folders import as packages in every environment.
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), child_env.get("PYTHONPATH")]))
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env)
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                sys.stdout.write(line)
                fh.write(line)
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
