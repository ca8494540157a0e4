"""Helpers shared by several test files (test files never import from one another; fixtures are in
conftest.py): the accuracy evaluator of the tiny models, and the toy sweep repository (three
notebooks that run in seconds, and profiles) for the sweep's mechanics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ticketlib import sweep
from ticketlib.foundations.batching import Batches


def accuracy(features):
    """An evaluate function for run_imp and fine_tune: the share of `features` classified right."""

    def evaluate(model):
        correct = 0
        with torch.no_grad():
            for idx, batch in Batches(features, 32):
                labels = batch.pop("labels")
                correct += int((model(**batch).logits.argmax(-1) == labels).sum())
        return {"accuracy": correct / len(features)}

    return evaluate


def make_notebook(path: Path, params: str, body: str) -> Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("# toy"), cell, new_code_cell(textwrap.dedent(body))]
    nbformat.write(nb, str(path))
    return path


# A toy produce notebook's last lines: its one row of the results table, in `out`. Written with
# csv, not pandas (0.7 s of import in every toy kernel): the bytes pandas' to_csv(index=False) writes.
WRITE_ROW = """\
import csv
row = {"experiment": "produce", "method": "imp", "task": task, "source_task": task, "model": "toy",
       "seed": 0, "level": 0, "sparsity": 0.0, "rewind_step": 0, "metric": "accuracy",
       "value": value, "steps": 1, "train_seconds": 0.0, "run_id": run_id}
with open(out / "rows.csv", "w", newline="") as rows:
    csv.writer(rows, lineterminator="\\n").writerows([row.keys(), row.values()])
"""

PRODUCE = (
    """\
import json, pathlib
out = pathlib.Path(run_dir or ".")
if fail:
    raise RuntimeError(f"boom for {task}")
(out / "value.json").write_text(json.dumps({"task": task, "value": value}))
"""
    + WRITE_ROW
)

CONSUME = """\
import json, pathlib
got = json.loads((pathlib.Path(ticket) / "value.json").read_text())
assert got["task"] == task, got
print("consumed", got)
"""

GATHER = """\
print(len(runs), "runs")
"""


PRODUCE_PARAMS = 'task = "a"\nvalue = 1.0\nfail = False\nrun_dir = ""\nrun_id = ""'


def make_toy_repo(root: Path, produce: str = PRODUCE, consume: str = CONSUME, gather: str = GATHER) -> Path:
    """A toy repository: three notebooks (bodies given) and a profile, `toy`, extending `base`:
    produce[task=a,b,c] -> consume[task=a,b,c] (each needs its producer) -> gather (after all)."""
    nbs = root / "notebooks"
    nbs.mkdir(parents=True)
    make_notebook(nbs / "produce.ipynb", PRODUCE_PARAMS, produce)
    make_notebook(nbs / "consume.ipynb", 'task = "a"\nticket = ""\nrun_dir = ""\nrun_id = ""', consume)
    make_notebook(nbs / "gather.ipynb", 'runs = []\nrun_dir = ""\nrun_id = ""', gather)
    (root / "params").mkdir()
    (root / "params" / "base.yaml").write_text(
        textwrap.dedent("""\
        notebooks: notebooks
        experiments:
          produce: {notebook: produce.ipynb}
          consume:
            notebook: consume.ipynb
            needs: {ticket: {experiment: produce, match: {task: task}}}
          gather:
            notebook: gather.ipynb
            needs: {runs: {after: [produce, consume]}}
        """)
    )
    (root / "params" / "toy.yaml").write_text(
        textwrap.dedent("""\
        extends: base.yaml
        name: toy
        defaults: {value: 0.5}
        task_params: {b: {value: 2.0}}
        experiments:
          produce: {grid: {task: [a, b, c]}}
          consume: {grid: {task: [a, b, c]}}
        """)
    )
    return root


def run_toy(toy, profile="toy", **kwargs):
    return sweep.run_sweep(profile, store=toy / "store", reports=toy / "reports", root=toy, html=False, **kwargs)


def results_without_clock(path: Path) -> str:
    """A results.csv without its one wall-clock column (train_seconds), rows sorted: equal for two
    stores that ran the same runs, however they were scheduled or resumed."""
    import pandas as pd

    frame = pd.read_csv(path).drop(columns=["train_seconds"])
    return frame.sort_values(list(frame.columns)).to_csv(index=False)
