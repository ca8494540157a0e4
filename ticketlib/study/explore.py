"""The ticket explorer behind notebooks/06_explore.ipynb: pick a run's ticket, a level and a
ticket to compare with; see the ticket's metrics against the baselines (from the runs' result
rows), its sparsity per layer and per matrix, its fully pruned matrices and the overlap.

`Explorer(runs, ...)` reads the runs that `runs` names (ticketlib.study.last_study: by default the
last study's). `Explorer.show(interactive)` displays ipywidgets (dropdowns and an output area)
when a Jupyter frontend runs the kernel, and otherwise prints the same views, once, for the
selection it was made with: run by papermill, nbval or nbconvert there is no frontend to draw
widgets, and without ipywidgets there are none to draw. Nothing here trains or writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ticketlib.core.masks import random_prune
from ticketlib.foundations.atomic import read_json
from ticketlib.foundations.paths import RUN_FILE
from ticketlib.study.cells import SPARSITY_TOLERANCE
from ticketlib.study.last_study import select_runs
from ticketlib.tickets.results import NO_SIGNAL
from ticketlib.tickets.ticket import Ticket, available_levels, find_ticket_runs, load_ticket

RANDOM = "a random mask of the same sparsity"
NONE_TEXT = "(none)"


def frontend_present() -> bool:
    """True when a Jupyter server (JupyterLab, Notebook) started this kernel: it sets
    JPY_SESSION_NAME for the kernels of its sessions; papermill, nbval and nbconvert do not."""
    return bool(os.environ.get("JPY_SESSION_NAME"))


def widgets_module():
    """ipywidgets, or None when it is not installed."""
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def ticket_task(source: Path) -> str:
    """The task a ticket was found on: its run's recipe, else its mask file's metadata."""
    if source.is_dir() and (source / RUN_FILE).is_file():
        return read_json(source / RUN_FILE)["recipe"]["task"]
    return str(load_ticket(source).meta.get("task", "?"))


def source_label(source: Path) -> str:
    where = f"{source.parent.name}/{source.name}" if source.is_dir() else f"mask file {source.name}"
    return f"{ticket_task(source)}: {where}"


def metrics_table(rows: pd.DataFrame, task: str, sparsity: float) -> pd.DataFrame:
    """The task's matching metric at the ticket's sparsity, for every method of the runs (IMP,
    baselines, transfers, rewinding), beside the unpruned model and the no-signal score (what a
    model that ignores its input scores, when the runs recorded it): mean, std and seeds, and
    the difference from the full model's mean."""
    from ticketlib.tasks.registry import get_task

    columns = [
        "experiment",
        "method",
        "source_task",
        "rewind_step",
        "level",
        "sparsity",
        "mean",
        "std",
        "seeds",
        "vs full",
    ]
    if not len(rows) or task not in set(rows["task"]):
        return pd.DataFrame(columns=columns)
    part = rows[(rows["task"] == task) & (rows["metric"] == get_task(task).matching_metric)]
    near = (part["sparsity"] - sparsity).abs() < SPARSITY_TOLERANCE
    part = part[near | part["method"].isin(["full", NO_SIGNAL]) | (part["level"] == 0)]
    keys = ["experiment", "method", "source_task", "rewind_step", "level"]
    table = (
        part.groupby(keys, dropna=False)
        .agg(sparsity=("sparsity", "mean"), mean=("value", "mean"), std=("value", "std"), seeds=("seed", "nunique"))
        .reset_index()
    )
    full = table[table["method"] == "full"]
    reference = full if len(full) else table[(table["method"] == "imp") & (table["level"] == 0)]
    table["vs full"] = table["mean"] - reference["mean"].mean() if len(reference) else float("nan")
    return table.sort_values(["sparsity", "experiment", "method"]).reset_index(drop=True)[columns]


def matrix_grid(ticket: Ticket) -> pd.DataFrame:
    """Sparsity of each encoder matrix: rows the matrix (query, key, ...), columns the layer."""
    matrices = ticket.matrices().dropna(subset=["layer"])
    grid = matrices.pivot(index="matrix", columns="layer", values="sparsity")
    grid = grid[sorted(grid.columns, key=int)]
    grid.columns = [f"layer {c}" for c in grid.columns]
    return grid


def heatmap(grid: pd.DataFrame, title: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * grid.shape[1], 0.6 + 0.35 * grid.shape[0]))
    image = ax.imshow(grid.values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns)
    ax.set_yticks(range(grid.shape[0]), grid.index)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="sparsity")
    fig.tight_layout()
    return fig


class Explorer:
    """The tickets of some runs, one of them selected (see the module docstring)."""

    def __init__(
        self,
        runs: str | os.PathLike | Sequence = "",
        task: str = "",
        level: int | None = None,
        ticket: str | os.PathLike = "",
        compare_with: str | os.PathLike = "",
        reports: str | os.PathLike | None = None,
    ):
        self.selection = select_runs(runs, reports)
        self.rows = self.selection.rows()
        sources = [Path(ticket)] if ticket else []
        if ticket and not sources[0].exists():
            raise FileNotFoundError(f"ticket {ticket} does not exist (a find_tickets run folder or a mask file)")
        sources += [f for f in find_ticket_runs(self.selection.folders) if f not in sources]
        self.sources = {source_label(s): s for s in sources}
        self.tasks = {label: ticket_task(s) for label, s in self.sources.items()}
        self.source: Path | None = None
        self.level: int | None = None
        self.compare = RANDOM
        if not self.sources:
            return
        chosen = next(iter(self.sources))
        if task and not ticket:
            matching = [label for label, t in self.tasks.items() if t == task]
            if not matching:
                raise ValueError(
                    f"no ticket of task {task!r} in {self.selection.source}; tasks with tickets: "
                    f"{', '.join(sorted(set(self.tasks.values())))}"
                )
            chosen = matching[0]
        self.select(chosen, level, self._compare_label(chosen, compare_with))

    def _compare_label(self, chosen: str, compare_with) -> str:
        if not compare_with:
            others = [label for label, t in self.tasks.items() if t != self.tasks[chosen]]
            return others[0] if others else RANDOM
        by_task = [label for label, t in self.tasks.items() if t == str(compare_with) and label != chosen]
        if by_task:
            return by_task[0]
        path = Path(compare_with)
        if not path.exists():
            raise ValueError(
                f"compare_with {compare_with!r} is neither a task with a ticket here "
                f"({', '.join(sorted(set(self.tasks.values())))}) nor an existing run folder or mask file"
            )
        self.sources.setdefault(source_label(path), path)
        self.tasks.setdefault(source_label(path), ticket_task(path))
        return source_label(path)

    def levels(self, label: str) -> list[int]:
        source = self.sources[label]
        return available_levels(source) if source.is_dir() else [load_ticket(source).level]

    def select(self, label: str, level: int | None = None, compare: str = RANDOM) -> None:
        """Choose the ticket (a label of `sources`), its level (None: the highest) and what to compare with."""
        self.label, self.source = label, self.sources[label]
        self.ticket = load_ticket(self.source, level)
        self.level = self.ticket.level
        self.compare = compare

    def other(self) -> tuple[Ticket, str]:
        """The ticket to compare with, at the selected level when it has it (else its highest)."""
        if self.compare == RANDOM or self.compare not in self.sources:
            mask = random_prune(self.ticket.mask, self.ticket.sparsity, seed=0)
            return Ticket(mask, {}, Path(RANDOM)), RANDOM
        source = self.sources[self.compare]
        levels = self.levels(self.compare)
        other = load_ticket(source, self.level if self.level in levels else None)
        return other, f"{self.compare} (level {other.level})"

    # --- the views -------------------------------------------------------------------------

    def summary(self) -> str:
        """Plain text of the selection: what nbval compares."""
        if self.source is None:
            return f"No ticket to explore. {self.selection.describe()}"
        matrices = self.ticket.matrices()
        fully = list(matrices[matrices["fully_pruned"]]["name"])
        return "\n".join(
            [
                f"runs: {self.selection.source}",
                f"tickets: {', '.join(self.sources)}",
                f"selected: {self.label}, level {self.level} of {self.levels(self.label)}, "
                f"sparsity {self.ticket.sparsity:.4f}",
                f"layers: {list(self.ticket.layers()['name'])}",
                f"fully pruned matrices: {fully or 'none'}",
                f"compared with: {self.compare}",
            ]
        )

    def render(self) -> None:
        """Display every view of the current selection (into a cell, or a widget's output area)."""
        import matplotlib.pyplot as plt
        from IPython.display import Markdown, display

        if self.source is None:
            display(Markdown(f"**No ticket to explore.** {self.selection.describe()}"))
            return
        t, task = self.ticket, self.tasks[self.label]
        display(Markdown(f"### {self.label}, level {self.level}: sparsity {t.sparsity:.2%}"))
        metrics = metrics_table(self.rows, task, t.sparsity)
        display(Markdown(f"**Metrics at this sparsity** ({task}, against the full model)"))
        display(metrics if len(metrics) else Markdown(f"_No result rows for {task} in {self.selection.source}._"))
        display(Markdown("**Sparsity per layer**"))
        display(t.layers())
        grid = matrix_grid(t)
        fig = heatmap(grid, f"{task}, level {self.level}: sparsity per matrix")
        display(fig)
        plt.close(fig)
        matrices = t.matrices()
        fully = list(matrices[matrices["fully_pruned"]]["name"])
        display(Markdown("**Fully pruned matrices:** " + (", ".join(f"`{n}`" for n in fully) or "none")))
        other, name = self.other()
        chance = t.sparsity * other.sparsity / max(t.sparsity + other.sparsity - t.sparsity * other.sparsity, 1e-12)
        display(
            Markdown(
                f"**Overlap** (Jaccard, pruned weights) with {name}: {t.overlap(other):.3f} "
                f"(two independent random masks of these sparsities: about {chance:.3f})"
            )
        )

    def widget(self):
        """Dropdowns (ticket, level, compare with) over an output area that re-renders on change."""
        widgets = widgets_module()
        if widgets is None:
            raise ImportError("ipywidgets is not installed (pip install ipywidgets)")
        pick = widgets.Dropdown(
            options=list(self.sources), value=self.label, description="ticket", layout=widgets.Layout(width="60%")
        )
        level = widgets.Dropdown(options=self.levels(self.label), value=self.level, description="level")
        compare = widgets.Dropdown(
            options=[RANDOM] + list(self.sources),
            value=self.compare,
            description="compare with",
            layout=widgets.Layout(width="60%"),
        )
        output = widgets.Output()

        def redraw(change=None):
            if change is not None and change["owner"] is pick:
                level.unobserve(redraw, "value")
                level.options = self.levels(pick.value)
                level.value = level.options[-1]
                level.observe(redraw, "value")
            self.select(pick.value, level.value, compare.value)
            output.clear_output(wait=True)
            with output:
                self.render()

        for control in (pick, level, compare):
            control.observe(redraw, "value")
        redraw()
        box = widgets.VBox([widgets.HTML(f"<b>{self.selection.describe()}</b>"), pick, level, compare, output])
        box.redraw = redraw
        return box

    def show(self, interactive: bool = True):
        """The widget when `interactive`, ipywidgets is there and a Jupyter frontend runs the
        kernel; else the static views of the current selection, with a line saying why."""
        from IPython.display import display

        print(self.selection.describe())
        if interactive and self.sources:
            if widgets_module() is None:
                print("(static view: ipywidgets is not installed)")
            elif not frontend_present():
                print("(static view: no Jupyter frontend runs this kernel, e.g. papermill or nbval)")
            else:
                box = self.widget()
                display(box)
                return box
        self.render()
        return None
