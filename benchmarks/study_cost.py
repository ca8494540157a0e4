"""Wall time and peak memory of the README's main job (`python -m ticketlib study`), run after
set-up (assets fetched, fresh run store) and re-run with everything cached (same store).

Peak memory is the largest sum of resident set sizes over the job's whole process tree
(the CLI, the sweep, every papermill kernel), sampled every 0.2 s with psutil.

    .venv/bin/python benchmarks/study_cost.py [--profile quick] [--keep DIR]
    .venv/bin/python benchmarks/study_cost.py --command "bash scripts/study.sh"   # the README's own command

With --command, that shell command is measured instead (twice, in the current folder, with
its own store and reports: run it in a fresh clone).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import psutil


def run_measured(command: list[str], env: dict, log_path: str) -> dict:
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)
    wall = time.perf_counter() - start
    with open(log_path) as log:
        tail = log.read()[-1500:]
    return {
        "returncode": proc.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(peak / 2**20),
        "log": log_path,
        "output_tail": tail,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--keep", default=None, help="store and reports here instead of a temporary folder")
    p.add_argument("--command", default=None, help="a shell command to measure instead (e.g. 'bash scripts/study.sh')")
    args = p.parse_args(argv)
    folder = args.keep or tempfile.mkdtemp(prefix="study-cost-")
    command = (
        ["bash", "-c", args.command]
        if args.command
        else [
            sys.executable,
            "-m",
            "ticketlib",
            "study",
            "--profile",
            args.profile,
            "--store",
            os.path.join(folder, "runs"),
            "--reports",
            os.path.join(folder, "reports"),
        ]
    )
    env = dict(os.environ)
    result = {
        "benchmark": "study_cost",
        "command": args.command or " ".join(command[1:]),
        "folder": folder,
        "loadavg_before": os.getloadavg(),
    }
    os.makedirs(folder, exist_ok=True)
    result["first_run_after_setup"] = run_measured(command, env, os.path.join(folder, "first_run.log"))
    result["rerun_cached"] = run_measured(command, env, os.path.join(folder, "rerun.log"))
    result.update(
        loadavg_after=os.getloadavg(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        memory_gib=round(psutil.virtual_memory().total / 2**30, 1),
        date=time.strftime("%Y-%m-%d %H:%M"),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
