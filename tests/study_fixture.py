"""A small finished study on disk, without training: the layout a study leaves (run folders
with run.json, rows.csv and IMP level folders holding real mask files, and a reports folder
with runs.json and results.csv), built with ticketlib's own writers from tiny random BERTs.

The masks are magnitude prunes of the tiny models' weights at each level's sparsity; the
rows are invented metric values (their numbers mean nothing, their shape is the real one).
"""

from __future__ import annotations

from pathlib import Path

from conftest import tiny_model

from ticketlib.core.mask_io import save_mask
from ticketlib.core.masks import magnitude_prune
from ticketlib.core.prunable import prunable_parameters
from ticketlib.foundations.atomic import write_json
from ticketlib.foundations.paths import IMP_DIR, LEVEL_FILE, MASK_FILE, RUN_FILE, level_dir
from ticketlib.tickets.results import concat_rows, write_rows, write_table

SPARSITY = {0: 0.0, 1: 0.2, 2: 0.4}
TASKS = {"rt-sentiment": 0, "squad-qnli": 1}  # task -> seed of its tiny model
BASELINE_SEEDS = (0, 1)
BASELINE_LEVEL = 2
FULL = 0.80  # the full model's metric at seed 0; each seed adds SEED_STEP (so do the baselines')
BASELINES = {"imp": 0.79, "random_pruning": 0.65, "omp": 0.74}  # at BASELINE_LEVEL, seed 0
SEED_STEP = 0.01


def row(task, experiment, method, level, seed, value, run_id, source_task=None):
    return {
        "experiment": experiment,
        "method": method,
        "task": task,
        "source_task": source_task or task,
        "model": "tiny-bert",
        "seed": seed,
        "level": level,
        "sparsity": SPARSITY[level],
        "rewind_step": 0,
        "metric": "accuracy",
        "value": value,
        "steps": 4,
        "train_seconds": 0.1,
        "run_id": run_id,
    }


def find_tickets_run(store: Path, task: str, seed: int) -> Path:
    folder = store / "find_tickets" / f"{task}-{seed:012d}"
    weights = prunable_parameters(tiny_model(seed=seed, layers=2))
    write_json(folder / RUN_FILE, {"experiment": "find_tickets", "recipe": {"task": task, "model": "tiny-bert"}})
    rows = []
    for level, target in SPARSITY.items():
        mask = magnitude_prune(weights, target)
        where = level_dir(folder / IMP_DIR, level)
        save_mask(where / MASK_FILE, mask, task=task, level=level)
        value = 0.8 - 0.05 * level
        write_json(
            where / LEVEL_FILE,
            {"level": level, "sparsity": target, "steps": 4, "train_seconds": 0.1, "metrics": {"accuracy": value}},
        )
        rows.append(row(task, "find_tickets", "imp", level, 0, value, folder.name))
    write_rows(folder, rows)
    return folder


def baselines_run(store: Path, task: str) -> Path:
    folder = store / "baselines" / f"{task}-baselines"
    write_json(folder / RUN_FILE, {"experiment": "baselines", "recipe": {"task": task, "model": "tiny-bert"}})
    rows = []
    for seed in BASELINE_SEEDS:
        rows.append(row(task, "baselines", "full", 0, seed, FULL + SEED_STEP * seed, folder.name))
        for method, value in BASELINES.items():
            rows.append(row(task, "baselines", method, BASELINE_LEVEL, seed, value + SEED_STEP * seed, folder.name))
    write_rows(folder, rows)
    return folder


def make_study(root: Path, profile: str = "fake") -> tuple[Path, Path]:
    """(store, reports) of a finished study: a ticket run per task in TASKS, baselines for the first."""
    store, reports = root / "store", root / "reports"
    folders = [find_tickets_run(store, task, seed) for task, seed in TASKS.items()]
    folders.append(baselines_run(store, next(iter(TASKS))))
    summary = store / "summary" / "0123456789ab"  # a run that reads results and makes none: no run.json
    write_json(summary / "status.json", {"status": "ok"})
    folders.append(summary)
    runs = [
        {
            "run_id": f.name,
            "experiment": f.parent.name,
            "name": f"{f.parent.name}[{f.name}]",
            "label": f.name,
            "status": "ok",
            "skipped": False,
            "duration_s": 1.0,
            "error": None,
            "params": {},
            "needs": {},
            "folder": str(f),
        }
        for f in folders
    ]
    write_json(
        reports / "runs.json", {"profile": profile, "description": "a fake study", "store": str(store), "runs": runs}
    )
    write_table(concat_rows([f / "rows.csv" for f in folders if (f / "rows.csv").is_file()]), reports / "results.csv")
    return store, reports
