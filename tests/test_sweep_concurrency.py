"""Two sweeps started at once on the same store: no run executes twice, and the results table
stays a valid table holding every finished run once (issue 5)."""

import threading

import pandas as pd

from test_sweep import PRODUCE, make_notebook, run_toy, toy  # noqa: F401  (fixture)


def test_two_sweeps_at_once_run_each_run_once(toy):  # noqa: F811
    log = toy / "executions.log"
    slow_produce = PRODUCE + f"\nimport time\nwith open({str(log)!r}, 'a') as f:\n    f.write(task + '\\n')\ntime.sleep(2)\n"
    make_notebook(toy / "notebooks" / "produce.ipynb", 'task = "a"\nvalue = 1.0\nfail = False\nrun_dir = ""\nrun_id = ""',
                  slow_produce)
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
