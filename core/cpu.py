"""What this machine's CPU can do, as far as vLLM's CPU build cares: the instruction sets that decide
which dtype runs fastest, and how the scheduler groups processes.

vLLM's CPU kernels run bfloat16 natively with AVX-512 BF16 or AMX; without them (AVX2 only) bfloat16 is
emulated, and float32 served about twice as fast with `make bench` on an AVX2-only machine (an earlier
measurement; its figures were not kept).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")
SHOWN_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")  # in benchmark headers
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def flags() -> frozenset[str]:
    """The CPU's flags as /proc/cpuinfo lists them (lscpu's Flags line); empty where it cannot be read."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return frozenset()
    return frozenset(next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), []))


def native_bf16() -> bool:
    return any(f in flags() for f in NATIVE_BF16)


def serving_dtype() -> str:
    """The dtype vLLM's CPU build serves fastest here: bfloat16 where the CPU computes it natively."""
    return "bfloat16" if native_bf16() else "float32"


def mem_available_gib() -> float | None:
    """MemAvailable from /proc/meminfo in GiB (what can be allocated without swapping); None where unknown."""
    try:
        line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 2**20  # kB


def numa_nodes() -> int:
    """NUMA nodes with CPUs (/sys/devices/system/node/node*/cpulist non-empty); 1 where that cannot be read."""
    nodes = [n for n in Path("/sys/devices/system/node").glob("node[0-9]*")
             if (n / "cpulist").exists() and (n / "cpulist").read_text().strip()]
    return len(nodes) or 1


def autogroups_enabled() -> bool:
    try:
        return AUTOGROUPS.read_text().strip() == "1"
    except OSError:
        return False


def describe() -> str:
    """One line for a benchmark's header: cores, the flags that matter, the scheduler's grouping."""
    have = [f for f in SHOWN_FLAGS if f in flags()]
    return (f"{os.cpu_count()} cores, flags {' '.join(have) or '(none of ' + ' '.join(SHOWN_FLAGS) + ')'}, "
            f"sched_autogroup_enabled {'1' if autogroups_enabled() else '0'}")
