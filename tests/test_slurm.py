"""The cluster path on a real scheduler: a one-node Slurm on 127.0.0.1 (scripts/slurm_local.sh:
Debian's slurm-wlm and munge, and slurmdbd, which `sacct` needs), a cut of the smoke profile (IMP on
one task, its baselines, the summary) through `ticketlib study --engine submitit` (sbatch through
submitit's SlurmExecutor), end to end, then the report; then the same sweep in a fresh store with
its IMP job cancelled by `scancel` partway (after its first level), and the sweep run again: it
resumes that run and ends with the same results.

This is the test that runs the real notebooks through submitit (test_sweep runs its scheduling on
toy notebooks, in submitit's local mode), so it must not skip where Slurm could be installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import results_without_clock

# three small sweeps as Slurm jobs, one cancelled and resumed; one worker (fixed ports, /tmp/ticketlib-slurm)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slurm")]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
IMP_JOB = "find_tickets[task=rt-sentiment]"  # the job cancelled partway: its run's name (the job's name)
BASELINES_JOB = "baselines[task=rt-sentiment]"  # needs IMP_JOB's ticket: skipped after the cancel, then run

PROFILE = """\
extends: {root}/params/smoke.yaml
name: smoke-slurm
notebooks: {root}/notebooks
experiments:             # three runs: IMP (the job cancelled), its baselines (a hard need), the summary (`after`)
  find_tickets: {{grid: {{task: [rt-sentiment]}}}}
  transfer: {{enabled: false}}
  rewinding: {{enabled: false}}
  explore: {{enabled: false}}
  summary: {{needs: {{runs: {{after: [find_tickets, baselines]}}}}}}
cluster:                 # submitit's SlurmExecutor, on the partition scripts/slurm_local.sh makes
  cluster: slurm
  slurm_partition: local
  cpus_per_task: 1
  timeout_min: 30
"""


def script(command: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=timeout)


def can_install() -> bool:
    """Whether scripts/slurm_local.sh tries to install Slurm here (root and apt-get): where it does, a
    failed install fails the test, so CI cannot skip it silently even without $CI set."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


@pytest.fixture(scope="module")
def slurm():
    """The cluster up (installed first if need be), SLURM_CONF set; stopped after, unless it was up before."""
    was_up = script("status").returncode == 0
    started = script("start")
    if started.returncode == 2:  # slurm-wlm is missing and its install failed, or could not be tried
        message = f"no Slurm and no way to install it: {started.stderr.strip()[-500:]}"
        if os.environ.get("CI") or can_install():  # CI runs as root with apt: missing there is a failure
            pytest.fail(message)
        pytest.skip(message)
    assert started.returncode == 0, started.stderr[-3000:]
    conf = script("env").stdout.strip().removeprefix("export SLURM_CONF=")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf  # for sbatch, squeue, sacct, scancel (the jobs inherit it)
    try:
        yield conf
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        if not was_up:
            script("stop", timeout=120)


def study(root: Path, store: str) -> subprocess.Popen:
    """`ticketlib study --engine submitit` on the profile, as a user runs it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ticketlib",
            "study",
            "--profile",
            str(root / "smoke-slurm.yaml"),
            "--engine",
            "submitit",
            "--store",
            str(root / store),
            "--reports",
            str(root / f"reports-{store}"),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def jobs() -> dict[str, tuple[str, str]]:
    """The queue's jobs: name -> (job id, state)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%j"], capture_output=True, text=True, check=True).stdout
    return {name: (job, state) for job, state, name in (line.split("|", 2) for line in out.splitlines())}


def sacct_states(job_ids: list[str]) -> list[str]:
    """Each job's final state in Slurm's accounting ("CANCELLED by 0" -> "CANCELLED")."""
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "State", "-j", ",".join(job_ids)], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[0] for line in out.splitlines()]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def job_processes(job_id: str) -> list[int]:
    """Live processes of a Slurm job (by SLURM_JOB_ID in their environment), zombies excluded."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and f"SLURM_JOB_ID={job_id}\0".encode() in (proc / "environ").read_bytes()
                and ") Z " not in (proc / "stat").read_text()
            ):
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def level_files(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.glob("imp/level_*/level.json")}


def test_smoke_sweep_on_slurm_with_a_cancelled_job_resumes_to_the_same_results(slurm, tmp_path):
    (tmp_path / "smoke-slurm.yaml").write_text(PROFILE.format(root=ROOT))

    # 1. Uninterrupted, end to end: every run a Slurm job, then the report.
    code, output = finish(study(tmp_path, "whole"))
    assert code == 0, output[-5000:]
    runs = json.loads((tmp_path / "reports-whole" / "runs.json").read_text())["runs"]
    assert runs and all(r["status"] == "ok" for r in runs), [(r["name"], r["error"]) for r in runs]
    assert (tmp_path / "reports-whole" / "index.html").is_file()
    slurm_jobs = [p.name for p in (tmp_path / "whole" / ".submitit").iterdir() if p.is_dir()]  # by job id
    assert len(slurm_jobs) == len(runs), slurm_jobs
    assert sacct_states(slurm_jobs) == ["COMPLETED"] * len(runs), sacct_states(slurm_jobs)
    results = pd.read_csv(tmp_path / "reports-whole" / "results.csv")
    assert set(results["experiment"]) == {"find_tickets", "baselines", "summary"}
    assert set(results["task"]) == {"rt-sentiment"}
    overlaps = results[results["experiment"] == "summary"]  # the summary's rows: its ticket against theta_0's OMP
    assert set(overlaps["method"]) == {"mask_overlap"} and set(overlaps["metric"]) == {"jaccard"}
    assert list(overlaps["source_task"]) == ["theta0-magnitude"], overlaps
    html = (tmp_path / "reports-whole" / "index.html").read_text()
    assert "figures/curves.png" in html  # the report draws its own figures (ticketlib.study.report)

    # 2. A fresh store: cancel the IMP job once its first level is done (the second is training).
    process = study(tmp_path, "cancelled")
    partial = tmp_path / "cancelled" / "find_tickets"
    wait_until(lambda: any(partial.glob("*.partial/imp/level_00/level.json")), 600, "IMP's first level")
    queue = jobs()
    assert IMP_JOB in queue, f"{IMP_JOB} left the queue before it could be cancelled: {queue}"
    job, state = queue[IMP_JOB]
    assert state == "RUNNING", state
    subprocess.run(["scancel", job], check=True)
    code, output = finish(process)
    # The cancelled run failed (SIGTERM ends its kernel, or SIGKILL its job), those that need it were skipped.
    assert code != 0 and "FAILED find_tickets[task=rt-sentiment]" in output, output[-5000:]
    runs = {r["name"]: r for r in json.loads((tmp_path / "reports-cancelled" / "runs.json").read_text())["runs"]}
    assert runs[IMP_JOB]["status"] == "failed", runs[IMP_JOB]
    assert runs[BASELINES_JOB]["status"] == "skipped", runs[BASELINES_JOB]
    assert sacct_states([job]) == ["CANCELLED"], sacct_states([job])
    # Slurm ended the whole job, notebook kernels (in sessions of their own) included.
    assert not job_processes(job), f"processes of the cancelled job {job} still run"
    [folder] = partial.glob("*.partial")
    done_before = level_files(folder)
    assert "level_00" in done_before, sorted(done_before)

    # 3. The same command again: the cancelled run resumes after its finished levels, the rest runs.
    code, output = finish(study(tmp_path, "cancelled"))
    assert code == 0, output[-5000:]
    after = level_files(folder.with_name(folder.name.removesuffix(".partial")))
    for level, stamp in done_before.items():
        assert after[level] == stamp, f"{level} was finished before the cancel but was redone"
    assert results_without_clock(tmp_path / "reports-cancelled" / "results.csv") == results_without_clock(
        tmp_path / "reports-whole" / "results.csv"
    )
