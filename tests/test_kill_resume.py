"""SIGKILL an IMP run at many points (training, pruning, writing, random times), resume it,
and check that finished levels are reused, nothing half-written is read, and the final masks
and metrics equal those of an uninterrupted run bit for bit."""

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import WRITE_ROW

from ticketlib.atomic import read_json
from ticketlib.mask_io import load_mask

pytestmark = pytest.mark.slow  # subprocesses killed and restarted: 4-20 s each (issue 13)

CHILD = [sys.executable, str(Path(__file__).with_name("imp_child.py"))]


def run_child(run_dir, *kill):
    return subprocess.run(CHILD + [str(run_dir), *map(str, kill)], capture_output=True, text=True, timeout=300)


def finished_levels(run_dir):
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in Path(run_dir).glob("level_*/level.json")}


def final_state(run_dir):
    levels = sorted(Path(run_dir).glob("level_*"))
    return ([{k: v.tolist() for k, v in load_mask(d / "mask.safetensors")[0].items()} for d in levels],
            [read_json(d / "level.json")["metrics"] for d in levels])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    assert run_child(run_dir).returncode == 0
    return final_state(run_dir)


KILLS = [("train", 1), ("train", 9), ("train", 20), ("prune", 1), ("prune", 3),
         ("write", 1), ("write", 4), ("write", 8), ("write", 12)]


@pytest.mark.parametrize("kill", KILLS + [("random", seed) for seed in range(3)], ids=str)
def test_sigkill_then_resume(tmp_path, reference, kill):
    phase, n = kill
    if phase == "random":
        process = subprocess.Popen(CHILD + [str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.Random(n).uniform(3.0, 8.0))  # start-up takes ~3 s, the run a few more
        process.kill()
        process.wait()
    else:
        result = run_child(tmp_path, phase, n)
        assert result.returncode == -9, (result.returncode, result.stderr[-2000:])
    # Whatever exists under a final name is complete and readable.
    for mask_file in tmp_path.glob("level_*/mask.safetensors"):
        load_mask(mask_file)
    before = finished_levels(tmp_path)
    assert run_child(tmp_path).returncode == 0
    after = finished_levels(tmp_path)
    for level, stamp in before.items():
        assert after[level] == stamp, f"{level} was finished before the kill but was redone"
    assert final_state(tmp_path) == reference


def test_two_fresh_processes_give_bit_identical_masks_and_metrics(tmp_path, reference):
    assert run_child(tmp_path).returncode == 0
    assert final_state(tmp_path) == reference


# --- a whole sweep ----------------------------------------------------------------------------
# The toy repository: `produce` writes a value and a results row, `consume` reads its
# producer's output, `gather` runs after all of them. Every notebook logs its start to
# $TOY_LOG, so a re-executed run shows up there. A kill takes down the whole process tree
# (the driver, its workers and their kernels, which papermill starts in sessions of their own),
# as a node failure or a cancelled job would.


SWEEP_CHILD = [sys.executable, str(Path(__file__).with_name("sweep_child.py"))]

TOY_PRODUCE = """\
import json, os, pathlib, time
open(os.environ["TOY_LOG"], "a").write(f"{run_id}\\n")
time.sleep(0.3)
out = pathlib.Path(run_dir)
(out / "value.json").write_text(json.dumps({"task": task, "value": value}))
""" + WRITE_ROW
TOY_CONSUME = """\
import json, os, pathlib
open(os.environ["TOY_LOG"], "a").write(f"{run_id}\\n")
got = json.loads((pathlib.Path(ticket) / "value.json").read_text())
assert got["task"] == task, got
(pathlib.Path(run_dir) / "value.json").write_text(json.dumps({"consumed": got}))
"""
TOY_GATHER = """\
import os
open(os.environ["TOY_LOG"], "a").write(f"{run_id}\\n")
print(len(runs), "runs")
"""


def make_toy(root: Path) -> Path:
    from helpers import make_toy_repo

    return make_toy_repo(root, TOY_PRODUCE, TOY_CONSUME, TOY_GATHER)


def start_sweep(root: Path, marker: str) -> subprocess.Popen:
    import os

    env = {**os.environ, "TOY_LOG": str(root / "executions.log"), "TOY_KILL_MARKER": marker}
    return subprocess.Popen(SWEEP_CHILD + [str(root)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def marked_processes(marker: str) -> list[int]:
    """The pids of live processes that carry the marker in their environment (zombies excluded)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and f"TOY_KILL_MARKER={marker}".encode() in (proc / "environ").read_bytes()
                    and ") Z " not in (proc / "stat").read_text()):
                pids.append(int(proc.name))
        except OSError:
            pass  # gone already, or not ours to read
    return pids


def kill_tree(marker: str) -> None:
    """SIGKILL every process that carries the marker in its environment, all at once."""
    import os
    import signal

    for pid in marked_processes(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finished_runs(store: Path) -> dict:
    """Run folders under their final name, with their status file's bytes and mtime."""
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_bytes())
            for p in store.glob("*/*/status.json") if not p.parent.name.endswith(".partial")}


def outputs(root: Path) -> dict:
    files = {str(p.relative_to(root)): p.read_bytes() for p in (root / "store").glob("*/*/value.json")}
    files["results.csv"] = (root / "reports" / "results.csv").read_bytes()
    return files


@pytest.fixture(scope="module")
def sweep_reference(tmp_path_factory):
    root = make_toy(tmp_path_factory.mktemp("sweep-reference"))
    started = time.monotonic()
    process = start_sweep(root, "reference")
    assert process.wait(timeout=300) == 0, process.stderr.read()[-3000:]
    return outputs(root), time.monotonic() - started


def wait_until(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


# Kills after the k-th run has finished (k = 0: once the first has started) plus a random
# fraction of a second, so every stage of the sweep is hit; then three at random times.
SWEEP_KILLS = [("after_runs", k) for k in range(7)] + [("random", seed) for seed in range(3)]


@pytest.mark.parametrize("kill", SWEEP_KILLS, ids=str)
def test_sigkill_a_sweep_then_resume(tmp_path, sweep_reference, kill):
    import json
    import uuid

    import pandas as pd

    from ticketlib.results import ROW_COLUMNS

    reference, duration = sweep_reference
    root = make_toy(tmp_path)
    store = root / "store"
    marker = uuid.uuid4().hex
    process = start_sweep(root, marker)
    phase, n = kill
    chance = random.Random(f"{phase}{n}")
    if phase == "after_runs":
        wait_until(lambda: len(finished_runs(store)) >= n and any(store.glob("*/*")))
        time.sleep(chance.uniform(0.0, 0.5))
    else:
        time.sleep(duration * chance.uniform(0.1, 0.7))
    kill_tree(marker)
    process.wait(timeout=60)
    time.sleep(0.5)  # let the kernel processes' exits settle

    # Nothing half-written is under a final name: every finished run is complete, and the
    # tables, if there, are whole.
    before = finished_runs(store)
    print(kill, "finished before the kill:", sorted(before))
    for name, (_, status) in before.items():
        assert json.loads(status)["status"] == "ok", name
    for folder in store.glob("*/*"):
        if folder.is_dir() and not folder.name.endswith(".partial") and folder.parent.name != "gather":
            assert (folder / "value.json").is_file(), f"{folder} is final but incomplete"
    if (root / "reports" / "results.csv").is_file():
        assert list(pd.read_csv(root / "reports" / "results.csv").columns)[:len(ROW_COLUMNS)] == list(ROW_COLUMNS)
    executed_before = (root / "executions.log").read_text().split() if (root / "executions.log").exists() else []

    resumed = start_sweep(root, marker + "-resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-3000:]
    after = finished_runs(store)
    for name, stamp in before.items():
        assert after[name] == stamp, f"{name} was finished before the kill but was redone"
    executed_after = (root / "executions.log").read_text().split()[len(executed_before):]
    finished_ids = {name.rsplit("-", 1)[-1] for name in before}
    assert not finished_ids & set(executed_after), "a finished run executed again"
    assert outputs(root) == reference


def test_a_killed_driver_leaves_its_started_runs_to_finish(tmp_path):
    """Only the driver dies (kill PID): its workers finish and publish the runs they had, then
    exit; a sweep restarted at once refuses those runs (their lock is held) instead of running
    them a second time, and a later sweep completes everything with each run executed once."""
    import os
    import signal

    root = make_toy(tmp_path)
    store = root / "store"
    process = start_sweep(root, "driver-only")
    wait_until(lambda: any(store.glob("*/*.partial")))
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    try:
        restarted = start_sweep(root, "driver-only-restart")
        # 1 when it met a run an orphaned worker still held, 0 when the workers were quicker
        assert restarted.wait(timeout=300) in (0, 1), restarted.stderr.read()[-3000:]
        wait_until(lambda: not any(store.glob("*/*.partial")), timeout=60)
        final = start_sweep(root, "driver-only-final")
        assert final.wait(timeout=300) == 0, final.stderr.read()[-3000:]
        # The orphaned workers (and their kernels) exit once their runs are published.
        wait_until(lambda: not marked_processes("driver-only"), timeout=30)
        assert not marked_processes("driver-only"), "orphaned workers did not exit"
    finally:
        kill_tree("driver-only")
    executed = (root / "executions.log").read_text().split()
    assert len(executed) == 7 and len(set(executed)) == 7, executed
