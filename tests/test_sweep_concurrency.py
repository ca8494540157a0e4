"""Two sweeps started at once on the same store: no run executes twice, and the results table
stays a valid table holding every finished run once (issue 5)."""

import threading

import pandas as pd
import pytest
from filelock import FileLock
from helpers import PRODUCE, PRODUCE_PARAMS, make_notebook, run_toy

from ticketlib import sweep
from ticketlib.study.profiles import load_profile


def logging_produce(toy, sleep_s: float = 0.0):
    """Make the toy's produce notebook log each execution (then sleep, to overlap sweeps)."""
    log = toy / "executions.log"
    body = PRODUCE + (
        f"\nimport time\nwith open({str(log)!r}, 'a') as f:\n    f.write(task + '\\n')\ntime.sleep({sleep_s})\n"
    )
    make_notebook(toy / "notebooks" / "produce.ipynb", PRODUCE_PARAMS, body)
    return log


def first_produce_run(toy):
    return next(
        r for r in sweep.expand(load_profile("toy", root=toy), toy / "store", root=toy) if r.experiment == "produce"
    )


def test_a_run_finished_by_another_sweep_after_the_check_is_not_executed_again(toy):
    """The interleaving that once ran a run twice: sweep B sees the run unfinished, sweep A
    finishes it, then B's worker starts it. The worker must find it finished under the lock."""
    log = logging_produce(toy)
    run = first_produce_run(toy)
    spec = sweep.run_spec(run, threads=None, html=False)
    first = sweep.execute_run(spec)  # sweep A
    second = sweep.execute_run(spec)  # sweep B's worker, which decided before A finished
    assert first["status"] == "ok" and not first.get("skipped")
    assert second["status"] == "ok" and second["skipped"] and second["run_id"] == run.run_id
    assert log.read_text().split() == [run.params["task"]]


def test_a_run_locked_by_another_process_is_reported_not_executed(toy):
    log = logging_produce(toy)
    run = first_produce_run(toy)
    run.folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(run.folder.with_name(f".{run.folder.name}.lock"))):
        status = sweep.execute_run(sweep.run_spec(run, threads=None, html=False))
    assert status["status"] == "failed" and "already running elsewhere" in status["error"]
    assert not log.exists() and not run.folder.exists()


@pytest.mark.slow  # two toy sweeps at once, then a third (about 13 s)
@pytest.mark.essential
def test_two_sweeps_at_once_run_each_run_once(toy):
    log = logging_produce(toy, sleep_s=2)
    results = [None, None]

    def sweep(i):
        results[i] = {s["name"]: s for s in run_toy(toy, jobs=2)}

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    executed = log.read_text().split()
    assert sorted(executed) == ["a", "b", "c"], f"a run executed twice: {executed}"
    for name in ("produce[task=a]", "produce[task=b]", "produce[task=c]"):
        assert "ok" in {results[0][name]["status"], results[1][name]["status"]}
    table = pd.read_csv(toy / "reports" / "results.csv")
    assert sorted(table["task"]) == ["a", "b", "c"]

    # A third sweep afterwards finds everything done and redoes nothing.
    again = run_toy(toy, jobs=2)
    assert log.read_text().split() == executed
    assert all(s.get("skipped") or s["status"] == "ok" for s in again)
