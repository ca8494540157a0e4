"""Wall time and peak memory of the README's main job (`python -m ticketlib study`), run after
set-up (assets fetched, fresh run store) and re-run with everything cached (same store).

Peak memory is the largest sum of resident set sizes over the job's whole process tree
(the CLI, the sweep, every papermill kernel), sampled every 0.2 s with psutil.

    .venv/bin/python benchmarks/study_cost.py [--profile quick] [--keep DIR]
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


def run_measured(command: list[str], env: dict) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    output: list[str] = []
    os.set_blocking(proc.stdout.fileno(), False)
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        chunk = proc.stdout.read()
        if chunk:
            output.append(chunk)
        time.sleep(0.2)
    output.append(proc.stdout.read() or "")
    return {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - start, 1),
            "peak_rss_mib": round(peak / 2**20), "output_tail": "".join(output)[-1500:]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick")
    p.add_argument("--keep", default=None, help="store and reports here instead of a temporary folder")
    args = p.parse_args(argv)
    folder = args.keep or tempfile.mkdtemp(prefix="study-cost-")
    command = [sys.executable, "-m", "ticketlib", "study", "--profile", args.profile,
               "--store", os.path.join(folder, "runs"), "--reports", os.path.join(folder, "reports")]
    env = dict(os.environ)
    result = {"benchmark": "study_cost", "command": " ".join(command[1:]), "folder": folder,
              "loadavg_before": os.getloadavg()}
    result["first_run_after_setup"] = run_measured(command, env)
    result["rerun_cached"] = run_measured(command, env)
    result.update(loadavg_after=os.getloadavg(), machine=platform.machine(), cpu_count=os.cpu_count(),
                  memory_gib=round(psutil.virtual_memory().total / 2**30, 1), date=time.strftime("%Y-%m-%d %H:%M"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
