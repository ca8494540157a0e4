"""SIGKILL an IMP run at many points (training, pruning, writing, random times), resume it,
and check that finished levels are reused, nothing half-written is read, and the final masks
and metrics equal those of an uninterrupted run bit for bit."""

import multiprocessing
import random
import subprocess
import sys
import time
from pathlib import Path

import imp_child
import pytest
from helpers import WRITE_ROW

from ticketlib.core.mask_io import load_mask
from ticketlib.foundations.atomic import read_json

pytestmark = pytest.mark.slow  # processes killed and restarted: forked IMP children, whole sweeps (4-20 s each)

CHILD = [sys.executable, str(Path(__file__).with_name("imp_child.py"))]
# What an IMP child imports (seconds): the fork server imports it once. Library modules only: Python 3.11's fork
# server imports these before it applies the test's sys.path, so tests/imp_child and conftest load in each child.
PRELOAD = [
    "torch",
    "transformers.models.bert.modeling_bert",
    "pytest",
    "ticketlib.foundations.atomic",
    "ticketlib.foundations.batching",
    "ticketlib.core.config",
    "ticketlib.core.imp",
    "ticketlib.core.mask_io",
    "ticketlib.core.train",
]


def run_child(run_dir, *kill):
    """A fresh process (subprocess): for the determinism of a whole new interpreter."""
    return subprocess.run(CHILD + [str(run_dir), *map(str, kill)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def forkserver():
    """Processes forked from a server that imported torch and transformers once: a kill child starts
    in milliseconds, not seconds. The server runs no torch op, so each fork starts clean; its exit
    code is a real process's (-9 for SIGKILL)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    warm = context.Process(target=time.sleep, args=(0,))  # starts the server; returns once it has imported
    warm.start()
    warm.join(timeout=300)
    assert warm.exitcode == 0, warm.exitcode
    return context


def forked(context, run_dir: Path, *kill):
    """Start the IMP child (imp_child.main), forked; its output goes to `<run_dir>.log`."""
    process = context.Process(target=imp_child.logged, args=(f"{run_dir}.log", str(run_dir), *kill))
    process.start()
    return process


def run_forked(context, run_dir: Path, *kill) -> tuple[int, str]:
    """The forked IMP child's exit code and the end of its output."""
    process = forked(context, run_dir, *kill)
    process.join(timeout=300)
    if process.exitcode is None:
        process.kill()
        process.join()
        pytest.fail(f"the IMP child in {run_dir} ran over 300 s")
    return process.exitcode, Path(f"{run_dir}.log").read_text()[-2000:]


def finished_levels(run_dir):
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in Path(run_dir).glob("level_*/level.json")}


def final_state(run_dir):
    levels = sorted(Path(run_dir).glob("level_*"))
    return (
        [{k: v.tolist() for k, v in load_mask(d / "mask.safetensors")[0].items()} for d in levels],
        [read_json(d / "level.json")["metrics"] for d in levels],
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory, forkserver):
    """An uninterrupted run's final state, and its duration in seconds (from its fork to its exit)."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    started = time.monotonic()
    exitcode, output = run_forked(forkserver, run_dir)
    seconds = time.monotonic() - started
    assert exitcode == 0, output
    return final_state(run_dir), seconds


KILLS = [
    ("train", 1),
    ("train", 9),
    ("train", 20),
    ("prune", 1),
    ("prune", 3),
    ("write", 1),
    ("write", 4),
    ("write", 8),
    ("write", 12),
]


@pytest.mark.essential  # 12 kills of one forked IMP run: 0.3 s each after the fork server's start
@pytest.mark.parametrize("kill", KILLS + [("random", seed) for seed in range(3)], ids=str)
@pytest.mark.xdist_group("kill_resume_imp")  # one forkserver and reference
def test_sigkill_then_resume(tmp_path, forkserver, reference, kill):
    state, seconds = reference
    run_dir = tmp_path / "run"
    phase, n = kill
    if phase == "random":
        process = forked(forkserver, run_dir)
        time.sleep(seconds * random.Random(n).uniform(0.1, 0.9))  # within the run: a fork has no start-up
        process.kill()
        process.join()
    else:
        exitcode, output = run_forked(forkserver, run_dir, phase, n)
        assert exitcode == -9, (exitcode, output)
    # Whatever exists under a final name is complete and readable.
    for mask_file in run_dir.glob("level_*/mask.safetensors"):
        load_mask(mask_file)
    before = finished_levels(run_dir)
    exitcode, output = run_forked(forkserver, run_dir)
    assert exitcode == 0, output
    after = finished_levels(run_dir)
    for level, stamp in before.items():
        assert after[level] == stamp, f"{level} was finished before the kill but was redone"
    assert final_state(run_dir) == state


@pytest.mark.essential
@pytest.mark.xdist_group("kill_resume_imp")
def test_two_fresh_processes_give_bit_identical_masks_and_metrics(tmp_path, reference):
    """Two new interpreters (not forks) agree bit for bit, with each other and with the forked reference."""
    for name in ("first", "second"):
        result = run_child(tmp_path / name)
        assert result.returncode == 0, result.stderr[-2000:]
    assert final_state(tmp_path / "first") == final_state(tmp_path / "second") == reference[0]


# --- a whole sweep ----------------------------------------------------------------------------
# The toy repository: `produce` writes a value and a results row, `consume` reads its
# producer's output, `gather` runs after all of them. Every notebook logs its start to
# $TOY_LOG, so a re-executed run shows up there. A kill takes down the whole process tree
# (the driver, its workers and their kernels, which papermill starts in sessions of their own),
# as a node failure or a cancelled job would.


SWEEP_CHILD = [sys.executable, str(Path(__file__).with_name("sweep_child.py"))]

TOY_PRODUCE = (
    """\
import json, os, pathlib, time
open(os.environ["TOY_LOG"], "a").write(f"{run_id}\\n")
time.sleep(0.3)
release = os.environ.get("TOY_RELEASE")  # a run the test holds: it finishes once this file exists
while release and not os.path.exists(release):
    time.sleep(0.05)
out = pathlib.Path(run_dir)
(out / "value.json").write_text(json.dumps({"task": task, "value": value}))
"""
    + WRITE_ROW
)
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


def start_sweep(root: Path, marker: str, **more_env: str) -> subprocess.Popen:
    import os

    env = {**os.environ, "TOY_LOG": str(root / "executions.log"), "TOY_KILL_MARKER": marker, **more_env}
    return subprocess.Popen(
        SWEEP_CHILD + [str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def marked_processes(marker: str) -> list[int]:
    """The pids of live processes that carry the marker in their environment (zombies excluded)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and f"TOY_KILL_MARKER={marker}".encode() in (proc / "environ").read_bytes()
                and ") Z " not in (proc / "stat").read_text()
            ):
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
    return {
        p.parent.name: (p.stat().st_mtime_ns, p.read_bytes())
        for p in store.glob("*/*/status.json")
        if not p.parent.name.endswith(".partial")
    }


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
ESSENTIAL_KILL = ("after_runs", 2)  # the test command's one sweep kill: runs finished, running and waiting


@pytest.mark.parametrize(
    "kill",
    [pytest.param(k, id=str(k), marks=pytest.mark.essential if k == ESSENTIAL_KILL else ()) for k in SWEEP_KILLS],
)
@pytest.mark.xdist_group("kill_resume_sweep")  # kill times are fractions of its reference
def test_sigkill_a_sweep_then_resume(tmp_path, sweep_reference, kill):
    import json
    import uuid

    import pandas as pd

    from ticketlib.tickets.results import ROW_COLUMNS

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
        assert list(pd.read_csv(root / "reports" / "results.csv").columns)[: len(ROW_COLUMNS)] == list(ROW_COLUMNS)
    executed_before = (root / "executions.log").read_text().split() if (root / "executions.log").exists() else []

    resumed = start_sweep(root, marker + "-resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-3000:]
    after = finished_runs(store)
    for name, stamp in before.items():
        assert after[name] == stamp, f"{name} was finished before the kill but was redone"
    executed_after = (root / "executions.log").read_text().split()[len(executed_before) :]
    finished_ids = {name.rsplit("-", 1)[-1] for name in before}
    assert not finished_ids & set(executed_after), "a finished run executed again"
    assert outputs(root) == reference


def test_a_killed_driver_leaves_its_started_runs_to_finish(tmp_path):
    """Only the driver dies (kill PID): its workers finish and publish the runs they had, then
    exit; a sweep restarted meanwhile refuses those runs (their lock is held) instead of running
    them a second time, and a later sweep completes everything. Each run executes once, except
    the summary (gather): the restarted sweep gathers without the refused runs, the later one
    with all (a gathering run is made again when its inputs change, RunStatus.inputs).

    The killed driver's runs wait for a file the test writes once the restarted sweep is done,
    so the restart always meets them held, however fast workers start."""
    import os
    import signal

    root = make_toy(tmp_path)
    store = root / "store"
    log = root / "executions.log"
    release = root / "release"
    process = start_sweep(root, "driver-only", TOY_RELEASE=str(release))
    wait_until(lambda: any(store.glob("*/*.partial")))
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    try:
        restarted = start_sweep(root, "driver-only-restart")
        assert restarted.wait(timeout=300) == 1, restarted.stderr.read()[-3000:]
        runs = read_json(root / "reports" / "runs.json")["runs"]
        held = {r["run_id"] for r in runs if r["status"] == "failed"}
        assert held, runs
        for run in runs:
            assert run["status"] != "failed" or "already running elsewhere" in run["error"], run
        executed = log.read_text().split()
        assert len(executed) == len(set(executed)), executed
        release.touch()
        wait_until(lambda: not any(store.glob("*/*.partial")), timeout=60)
        final = start_sweep(root, "driver-only-final")
        assert final.wait(timeout=300) == 0, final.stderr.read()[-3000:]
        # The orphaned workers (and their kernels) exit once their runs are published.
        wait_until(lambda: not marked_processes("driver-only"), timeout=30)
        assert not marked_processes("driver-only"), "orphaned workers did not exit"
    finally:
        kill_tree("driver-only")
    runs = read_json(root / "reports" / "runs.json")["runs"]
    assert all(r["status"] == "ok" for r in runs), runs
    assert all(r["skipped"] for r in runs if r["run_id"] in held), "a run its orphaned worker finished ran again"
    gather = next(r for r in runs if r["experiment"] == "gather")
    gathered = read_json(Path(gather["folder"]) / "status.json")["inputs"]
    assert gathered == sorted(r["run_id"] for r in runs if r is not gather), "the summary misses runs"
    executed_after = log.read_text().split()[len(executed) :]
    assert executed_after.count(gather["run_id"]) == 1 and gather["run_id"] in executed, (executed, executed_after)
    assert sorted(log.read_text().split()) == sorted([r["run_id"] for r in runs] + [gather["run_id"]]), (
        "a run executed twice (only the summary is made again)"
    )


def test_a_pool_worker_leaves_a_run_it_takes_once_its_driver_is_gone(tmp_path, monkeypatch):
    """A worker that starts, or takes a queued run, after its driver was killed must not execute
    it: a restarted sweep runs it too. A driver kill meets this window only by chance (a worker
    starting, or a run queued, at the kill); here it is met for sure, with a driver that has
    exited. The control, the live parent as driver: the same call executes the run."""
    import os

    from ticketlib import sweep
    from ticketlib.foundations.paths import lock_path
    from ticketlib.study.profiles import load_profile
    from ticketlib.sweep.engines import _execute_in_pool

    root = make_toy(tmp_path)
    log = root / "executions.log"
    monkeypatch.setenv("TOY_LOG", str(log))
    run = next(
        r for r in sweep.expand(load_profile("toy", root=root), root / "store", root=root) if r.experiment == "produce"
    )
    gone = subprocess.Popen(["true"])
    gone.wait()
    context = multiprocessing.get_context("spawn")  # as the local engine's pool
    for driver_pid, executes in ((gone.pid, False), (os.getpid(), True)):
        worker = context.Process(target=_execute_in_pool, args=(sweep.run_spec(run, None, html=False), driver_pid))
        worker.start()
        worker.join(timeout=120)
        assert worker.exitcode == 0, worker.exitcode
        assert lock_path(run.folder).exists() == executes and log.exists() == executes
    assert log.read_text().split() == [run.run_id] and read_json(run.folder / "status.json")["status"] == "ok"
