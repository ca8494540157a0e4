"""The summary notebook's helpers that no other module defines: the budget note, the per-layer
sparsity table, and saving the summary run's tables and figures for the report page
(ticketlib.study.report shows them inline).

The notebook's other tables and figures are imported from where they are defined:
seed_stats and main_rows (ticketlib.study.cells); matching_table, learning_table, gap_table,
transfer_table (ticketlib.study.tables); curves_figure, transfer_figure, layer_figure, overlap_table,
overlap_figure, tickets_at (ticketlib.study.figures).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Mapping

import pandas as pd

from ticketlib.foundations.atomic import atomic_path, write_json
from ticketlib.foundations.paths import NOTE_FILE, ORDER_FILE, SUMMARY_DIR
from ticketlib.study.cells import NO_SIGNAL_METHOD
from ticketlib.study.figures import save_figure, tickets_at
from ticketlib.study.overlap import OVERLAP_METHOD


def layer_table(ticket_runs: Mapping[str, str | Path], level: int | None = None) -> pd.DataFrame:
    """Per-layer sparsity (rows: layer, columns: ticket) of each task's ticket at `level`
    (default: each run's highest level)."""
    frames = {
        f"{task} ({t.sparsity:.0%})": t.layers().set_index("name")["sparsity"]
        for task, t in tickets_at(ticket_runs, level).items()
    }
    return pd.DataFrame(frames)


def budget_note(rows: pd.DataFrame, note: str = "") -> str:
    """Markdown: what this run's budget was (examples, steps, seeds, sparsities) and `note`,
    the profile's plain statement of what such a budget can and cannot show."""
    if not len(rows):
        return "**No results yet**: run the other notebooks (or a sweep) first."
    rows = rows[~rows["method"].isin([NO_SIGNAL_METHOD, OVERLAP_METHOD])]
    runs = rows.drop_duplicates(["run_id", "method", "seed", "level", "rewind_step"])
    low, high = int(runs["steps"].min()), int(runs["steps"].max())
    facts = (
        f"This run: {rows['task'].nunique()} task(s) ({', '.join(sorted(rows['task'].unique()))}), "
        f"{len(runs)} fine-tuning runs of {low if low == high else f'{low}-{high}'} steps each, "
        f"sparsities up to {rows['sparsity'].max():.0%}, {_seeds_text(rows)}, "
        f"model {', '.join(sorted(rows['model'].dropna().astype(str).unique()))}."
    )
    return facts + ("\n\n" + note.strip() if note.strip() else "")


def _seeds_text(rows: pd.DataFrame) -> str:
    """The seeds behind each kind of result: a study may run IMP over more seeds than its baselines."""
    imp = rows.loc[rows["method"] == "imp", "seed"].nunique()
    other = rows.loc[rows["method"] != "imp", "seed"].nunique()
    if imp and other and imp != other:
        return f"{imp} seed(s) per IMP level, up to {other} per other evaluated subnetwork (baselines, transfer)"
    return f"{max(imp, other, 1)} seed(s) per evaluated subnetwork"


def save_summary(run_dir: str | Path, tables: dict[str, pd.DataFrame], figures: dict, note: str = "") -> None:
    """The summary run's tables (CSV + HTML) and figures (PNG + SVG) under `<run_dir>/summary/`,
    with `order.json` (what was saved, in order) and `note.html`; every file written atomically."""
    folder = Path(run_dir) / SUMMARY_DIR
    order = []
    for name, table in tables.items():
        with atomic_path(folder / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
        with atomic_path(folder / f"{name}.html") as tmp:
            tmp.write_text(
                table.to_html(index=False, float_format=lambda x: f"{x:.3f}", border=0, classes="table", na_rep="")
            )
        order.append({"kind": "table", "name": name})
    for name, fig in figures.items():
        save_figure(fig, folder, name)
        order.append({"kind": "figure", "name": name})
    write_json(folder / ORDER_FILE, order)
    if note:
        with atomic_path(folder / NOTE_FILE) as tmp:
            tmp.write_text("".join(f"<p>{html.escape(p)}</p>" for p in note.split("\n\n")))
