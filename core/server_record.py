"""The record of a started server: written by `make serve` (serve/process.py) as its pid file,
read by every stage that talks to it (evaluation, demo, parity, bench, `make adapter`).

One JSON file per server under <run_dir>/serve/ (core/layout.py names it). Fields a reader may use:
name, url and models (what to call), mode and dtype (what it serves), data_parallel_size (replicas
behind the API server), max_lora_rank and max_adapters (what `make adapter` may mount), log, started
and ready_after_s. pid, pgid, tag and marker are for serve/process.py alone, which finds the server's
processes with them and fills the live fields (leader_alive, pids, rss) when it reads a record.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

LIVE = ("leader_alive", "pids", "rss")  # found by looking at the processes, never written


@dataclass
class ServerRecord:
    name: str                     # shown in messages and `make status`, e.g. "vLLM (lora)"
    url: str                      # base URL a local client uses (.../v1)
    port: int                     # 0: binds none (a headless vLLM node)
    models: list[str]             # the served model names, base or merged first
    log: str
    pid: int
    pgid: int
    marker: str                   # a piece of the leader's command line: a reused pid does not match it
    started: float                # time.time() when it was started
    tag: Optional[str] = None     # MEDKIT_SERVER_TAG of its processes (serve/process.py)
    autogroup_nice: Optional[int] = None
    ready_after_s: Optional[float] = None
    mode: Optional[str] = None    # vLLM: base, merged, quantized or lora
    dtype: Optional[str] = None
    max_lora_rank: Optional[int] = None
    max_adapters: Optional[int] = None
    data_parallel_size: int = 1
    leader_alive: bool = True
    pids: list[int] = field(default_factory=list)
    rss: int = 0                  # bytes resident over pids

    def write(self, pid_file: Path) -> None:
        data = {k: v for k, v in asdict(self).items() if k not in LIVE}
        pid_file.write_text(json.dumps(data, indent=2))

    @classmethod
    def read(cls, pid_file: Path) -> Optional["ServerRecord"]:
        """The record as written (None when there is no file); whether the server still runs is
        serve/process.py's read_record. Keys this version does not know are ignored."""
        if not pid_file.exists():
            return None
        data = json.loads(pid_file.read_text())
        known = {f.name for f in fields(cls)} - set(LIVE)
        return cls(**{k: v for k, v in data.items() if k in known})
