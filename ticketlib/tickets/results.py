"""The tidy results table: one row per metric value of a finished training run.

Every experiment writes its rows to `<run_dir>/rows.csv`; the sweep concatenates them into
`<reports>/results.csv`; the report and the summary notebook read them back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ticketlib.foundations.atomic import atomic_path
from ticketlib.foundations.methods import METHOD_NAMES, METHOD_TITLES, REGISTRY  # noqa: F401  (the rows' method names)
from ticketlib.foundations.paths import PARTIAL_SUFFIX, ROWS_FILE
from ticketlib.foundations.settings import store_root

# mask_seed: the seed of the IMP run whose mask a transfer trained (empty elsewhere; absent from
# results written before it, which still read)
ROW_COLUMNS = [
    "experiment",
    "method",
    "task",
    "source_task",
    "model",
    "seed",
    "mask_seed",
    "level",
    "sparsity",
    "rewind_step",
    "metric",
    "value",
    "steps",
    "train_seconds",
    "run_id",
]

# every value of the `method` column: the registry (ticketlib.foundations.methods)
METHODS = {m.name: (m.short, m.title) for m in REGISTRY}
NO_SIGNAL = "no_signal"  # the rows of a task's no-signal score (not a method: what ignoring the input scores)


def metric_rows(base: dict, metrics: dict) -> list[dict]:
    return [{**base, "metric": name, "value": float(value)} for name, value in metrics.items()]


INT_COLUMNS = ("seed", "mask_seed", "level", "rewind_step", "steps")
SPARSITY_DIGITS = 6  # the schedules' sparsities are exact to far fewer digits; float32 noise beyond


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Levels, seeds and steps as integers (nullable: a no-signal row has neither level nor seed),
    sparsities rounded: `1` and `0.3` in rows.csv and tables, not `1.0` and `0.30000003767602235`."""
    frame = frame.copy()
    for column in INT_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    if "sparsity" in frame:
        frame["sparsity"] = pd.to_numeric(frame["sparsity"]).round(SPARSITY_DIGITS)
    return frame


def in_row_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The table's columns first, in their order (empty where the rows lack one, e.g. rows written
    before a column existed); any extra columns after them."""
    frame = frame.assign(**{c: None for c in ROW_COLUMNS if c not in frame})
    return frame[ROW_COLUMNS + [c for c in frame if c not in ROW_COLUMNS]]


def write_rows(run_dir: str | os.PathLike, rows: list[dict]) -> pd.DataFrame:
    """rows -> `<run_dir>/rows.csv` (written atomically) and a DataFrame in the table's column order."""
    frame = typed(in_row_order(pd.DataFrame(rows)))
    with atomic_path(Path(run_dir) / ROWS_FILE) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def concat_rows(paths: Sequence[Path], experiments: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of these rows.csv files, one table (empty files left out); `experiments`: each
    file's experiment as its profile names it (e.g. baselines_reinit), for the `experiment` column."""
    frames = [pd.read_csv(p) for p in paths]
    if experiments is not None:
        frames = [f.assign(experiment=name) if len(f) else f for f, name in zip(frames, experiments)]
    frames = [f for f in frames if len(f)]
    return typed(in_row_order(pd.concat(frames, ignore_index=True))) if frames else pd.DataFrame(columns=ROW_COLUMNS)


def write_table(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def collect_rows(runs: Sequence[str | os.PathLike] | str | os.PathLike = ()) -> pd.DataFrame:
    """Every rows.csv of the given run folders (a results.csv file, or a folder searched
    recursively, also work); empty: every run of the store (by hand or by a sweep: the same
    folders, ticketlib.study.identity), unfinished `.partial` ones left out."""
    if isinstance(runs, (str, os.PathLike)):
        runs = [runs] if str(runs) else []
    paths: list[Path] = []
    for run in runs or [store_root()]:
        run = Path(run)
        if run.is_file():
            paths.append(run)
        elif (run / ROWS_FILE).is_file():
            paths.append(run / ROWS_FILE)
        elif run.is_dir():
            paths += sorted(
                p
                for p in run.rglob(ROWS_FILE)
                if not any(part.endswith(PARTIAL_SUFFIX) for part in p.relative_to(run).parts)
            )
    return concat_rows(paths)
