"""CPU time spent by each side of a load run, read from /proc (Linux only).

The API benchmark divides each run's CPU seconds by its requests, so that a
figure says where a request's cost lies: in the app (the gunicorn process
group), in PostgreSQL (its local server processes; none when the server is on
another machine) or in the load generator (wrk, a finished child process).
Throughput on a small machine is bounded by the sum of the three.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    processes: dict[int, tuple[str, int, float]]  # pid: (name, process group, seconds)
    children: float  # finished children (the load runs), user + system seconds


def _process_times() -> dict[int, tuple[str, int, float]]:
    found = {}
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        # After the name: state, ppid, pgrp, ... utime is the 14th field, stime the 15th.
        found[int(entry.name)] = (name, int(fields[2]),
                                  (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def sample() -> Sample:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Sample(processes=_process_times(), children=children.ru_utime + children.ru_stime)


def per_request_ms(before: Sample, after: Sample, *, requests: int, app_group: int,
                   local_database: bool) -> dict[str, float]:
    """Milliseconds of CPU per request: the app's process group, PostgreSQL, the load.

    Per process, what it used between the samples (all of it for a process born
    meanwhile). A process that ended meanwhile (an autovacuum worker) is not
    counted; finished children are the load runs (gunicorn is still running).
    """
    app = database = 0.0
    for pid, (name, group, seconds) in after.processes.items():
        earlier = before.processes.get(pid)
        used = seconds - (earlier[2] if earlier and earlier[0] == name else 0.0)
        if group == app_group:
            app += used
        elif local_database and name.startswith("postgres"):
            database += used
    count = max(requests, 1) / 1000
    return {"app": round(app / count, 2),
            "database": round(database / count, 2) if local_database else None,
            "load": round((after.children - before.children) / count, 2)}
