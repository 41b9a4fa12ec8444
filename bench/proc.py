"""What the benchmarks read of processes from Linux /proc: CPU time used, processes by command line."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(*pids: int) -> float:
    """User + system CPU time these processes have used so far (a process gone counts nothing)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def pids_of(*prefixes: bytes, containing: bytes = b"") -> list[int]:
    """The processes whose command line starts with one of `prefixes` (and contains `containing`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(prefixes) and containing in command:
                pids.append(int(entry.name))
    return pids
