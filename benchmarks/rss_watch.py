"""Resident memory of a server's processes while a benchmark drives it, read from /proc.

    python benchmarks/rss_watch.py --pid-file /tmp/regbench/mlregistry.pid --out rss.json &
    ... run the benchmark ...
    kill %1        # SIGTERM (or SIGINT) writes the summary and exits

Every `--interval` seconds it reads the root pid from `--pid-file` (a harness restarts the server between
runs, so the root changes), walks the root's process tree and reads each process's VmRSS. A server started
with several workers is a supervisor with one child process per worker. The summary (JSON, also printed)
gives, per root: the peak VmRSS of each process, its last reading and its VmHWM (the kernel's own peak,
which also catches what happens between two samples), and over all roots the largest worker peak.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from typing import Any


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in KiB (empty once it has exited)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def process_tree(root: int) -> list[int]:
    tree, found, todo = children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def read_root(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def summarize(seen: dict[int, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    roots = []
    worker_peak = 0
    for root, processes in seen.items():
        workers = {pid: p for pid, p in processes.items() if pid != root}
        roots.append(
            {
                "root": root,
                "processes": [
                    {"pid": pid, "role": "worker" if pid != root else "root", **p} for pid, p in processes.items()
                ],
            }
        )
        for process in workers.values() or processes.values():
            worker_peak = max(worker_peak, process["peak_rss_kib"], process.get("hwm_kib", 0))
    return {"worker_peak_mib": round(worker_peak / 1024, 1), "roots": roots}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pid-file", type=Path, required=True, help="File holding the server's root pid")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--out", type=Path, help="Write the summary here as JSON")
    args = parser.parse_args()
    seen: dict[int, dict[int, dict[str, Any]]] = {}
    stop = False

    def finish(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    while not stop:
        root = read_root(args.pid_file)
        if root is not None and status(root):
            for pid in process_tree(root):
                reading = status(pid)
                if not reading:
                    continue
                entry = seen.setdefault(root, {}).setdefault(pid, {"peak_rss_kib": 0})
                entry["peak_rss_kib"] = max(entry["peak_rss_kib"], reading.get("VmRSS", 0))
                entry["last_rss_kib"] = reading.get("VmRSS", 0)
                entry["hwm_kib"] = reading.get("VmHWM", 0)
        time.sleep(args.interval)
    summary = summarize(seen)
    text = json.dumps(summary, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(f"largest worker peak RSS: {summary['worker_peak_mib']} MiB over {len(seen)} server start(s)")


if __name__ == "__main__":
    main()
