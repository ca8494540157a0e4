"""The report's figures, drawn with seaborn from the tables (ticketlib.study.tables) and the tickets.

  curves_figure    metric vs sparsity per task: every method's mean over seeds (error bars:
                   std), the full model's mean +/- 1 std shaded (the matching band) and the
                   task's no-signal score dashed
  transfer_figure  source x target heatmap of each transferred mask's difference from the
                   target's own IMP ticket at the same level (annotated with the mean)
  layer_figure     per-matrix and per-layer sparsity of each task's ticket (matrix x layer)
  overlap_figure   Jaccard overlap of the pruned weights of every pair of tickets
  save_figure      a figure as PNG and SVG beside the page

Legends sit below the axes, never over the data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ticketlib.foundations.methods import METHOD_NAMES
from ticketlib.study import cells as C
from ticketlib.study import tables as T
from ticketlib.tickets.results import METHODS
from ticketlib.tickets.ticket import Ticket, available_levels, load_ticket

METHOD_ORDER = [m for m in METHODS if m != "full"]  # the curves' order (ticketlib.tickets.results.METHODS)
MATRIX_ORDER = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
]
LAYER_ROW = "whole layer"


def pyplot():
    """matplotlib.pyplot, imported when a figure is drawn (seconds of start-up otherwise)."""
    import matplotlib.pyplot as plt

    return plt


def _empty(text: str, size=(5, 1.6)):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=size)
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.axis("off")
    return fig


def curve_points(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per task, curve, sparsity and seed: the values the curves figure averages.
    Curves: every method's name (IMP starts at the full model, sparsity 0), "transfer from X"."""
    cells = C.Cells(rows)
    every = C.seed_stats(rows)
    out = []
    for task in cells.tasks:
        full, _ = cells.full(task)
        stats = every[(every["task"] == task) & (every["method"] != "full")]
        curves = [("imp", task, 0, full)] if full else []
        for row in stats.itertuples(index=False):
            curves.append(
                (row.method, row.source_task, row.level, cells.method(task, row.method, row.level, row.source_task))
            )
        for method, source, level, values in curves:
            label = f"transfer from {source}" if method == "transfer" else METHOD_NAMES.get(method, method)
            sparsity = (
                0.0 if level == 0 else cells.sparsity(task, level, method, source if method == "transfer" else None)
            )
            for seed, value in values.items():
                out.append(
                    {
                        "task": task,
                        "curve": label,
                        "method": method,
                        "level": level,
                        "sparsity": sparsity,
                        "seed": seed,
                        "value": value,
                    }
                )
    return pd.DataFrame(out, columns=["task", "curve", "method", "level", "sparsity", "seed", "value"])


PANELS_PER_ROW = 3  # legible at 1280 px


def panels(plt, count: int, width: float, height: float):
    """A grid of `count` panels, at most PANELS_PER_ROW a row; the unused ones hidden."""
    columns = min(PANELS_PER_ROW, count)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def curves_figure(rows: pd.DataFrame, tasks: Sequence[str] | None = None, no_signal: Mapping[str, float] | None = None):
    """Metric vs sparsity per task (see the module docstring)."""
    import seaborn as sns

    plt = pyplot()
    points = curve_points(rows)
    tasks = list(tasks or sorted(points["task"].unique()))
    if not tasks:
        return _empty("no results")
    learn = T.learning(rows, no_signal)
    curves = sorted(
        points["curve"].unique(),
        key=lambda c: (METHOD_ORDER.index(points.loc[points["curve"] == c, "method"].iloc[0]), c),
    )
    colours = sns.color_palette("colorblind", 10)  # methods from the first hues, transfers from the others
    methods, transfers = (
        [c for c in curves if not c.startswith("transfer")],
        [c for c in curves if c.startswith("transfer")],
    )
    palette = {
        **{c: colours[i % 10] for c, i in zip(methods, [0, 1, 2, 3, 7, 9])},
        **{c: colours[i % 10] for c, i in zip(transfers, [4, 5, 6, 8, 9, 7])},
    }
    markers = {c: "D" if c.startswith("transfer") else "o" for c in curves}
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = panels(plt, len(tasks), 4.4, 3.6)
    band = False
    for ax, task in zip(axes, tasks):
        part = points[points["task"] == task]
        item = learn.get(task)
        if item and item.full and item.full.n > 1:  # one seed has no std: no band to draw
            band = True
            low, high = item.full.mean - item.full.std, item.full.mean + item.full.std
            ax.axhspan(low, high, color="0.85", zorder=0, label="full model ± 1 std (matching band)")
            ax.axhline(item.full.mean, color="0.45", lw=0.8, zorder=1)
        if item and item.no_signal is not None:
            ax.axhline(item.no_signal, color="0.3", ls="--", lw=1, label="no-signal score")
        present = [c for c in curves if c in set(part["curve"])]
        sns.lineplot(
            data=part,
            x="sparsity",
            y="value",
            hue="curve",
            hue_order=present,
            style="curve",
            style_order=present,
            markers={c: markers[c] for c in present},
            dashes=False,
            palette=palette,
            estimator="mean",
            errorbar="sd",
            err_style="bars",
            err_kws={"capsize": 3},
            ax=ax,
            legend=False,
        )
        status = f" ({item.status})" if item and item.status != T.LEARNED else ""
        ax.set_title(f"{task}{status}")
        ax.set_xlabel("sparsity of the prunable set")
        ax.set_ylabel(item.metric if item else "metric")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}"))
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color="0.85", label="full model ± 1 std (the paper's matching band)")] if band else []
    if any(item.no_signal is not None for item in learn.values()):
        handles.append(Line2D([], [], color="0.3", ls="--", label="no-signal score"))
    handles += [Line2D([], [], color=palette[c], marker=markers[c], label=c) for c in curves]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(4, len(handles)),
        frameon=False,
        fontsize=8,
        bbox_to_anchor=(0.5, 0.0),
    )
    rows_of_legend = math.ceil(len(handles) / min(4, len(handles)))
    legend_inches = 0.35 + 0.22 * rows_of_legend  # leave that much below the panels, whatever their rows
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))
    return fig


def transfer_matrix(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(difference from the target's own ticket, mean): source x target tables; when the
    transfers ran at several levels, a column per target and sparsity."""
    table = T.transfer_table(rows)
    if table.empty:
        return pd.DataFrame(), pd.DataFrame()
    several = table.groupby("target")["level"].nunique().max() > 1
    table = table.assign(
        column=[f"{t} @ {s:.0%}" if several else t for t, s in zip(table["target"], table["sparsity"])]
    )
    difference = table.pivot_table(index="source", columns="column", values="difference", aggfunc="first", dropna=False)
    mean = table.pivot_table(index="source", columns="column", values="mean", aggfunc="first", dropna=False)
    return difference, mean


def transfer_figure(rows: pd.DataFrame):
    """Heatmap: rows = the task the mask was found on, columns = the task it was fine-tuned on;
    colour = difference from the target's own IMP ticket at the same level (0 on the diagonal),
    text = that difference and the transferred mask's mean."""
    import seaborn as sns

    plt = pyplot()
    difference, mean = transfer_matrix(rows)
    if difference.empty:
        return _empty("no transfer runs")
    annot = difference.copy().astype(object)
    for i in difference.index:
        for j in difference.columns:
            d, m = difference.loc[i, j], mean.loc[i, j]
            own = i == str(j).split(" @ ")[0]
            annot.loc[i, j] = (
                ""
                if pd.isna(m)
                else (f"own ticket\n({m:.3f})" if own else f"{m:.3f}" if pd.isna(d) else f"{d:+.3f}\n({m:.3f})")
            )
    limit = max(0.01, float(difference.abs().max().max()) if difference.notna().any().any() else 0.01)
    sns.set_theme(style="white", context="paper")
    fig, ax = plt.subplots(figsize=(2.2 + 1.7 * difference.shape[1], 1.4 + 0.75 * difference.shape[0]))
    sns.heatmap(
        difference.astype(float),
        annot=annot.values,
        fmt="",
        cmap="vlag_r",
        center=0,
        vmin=-limit,
        vmax=limit,
        linewidths=0.5,
        linecolor="white",
        ax=ax,
        cbar_kws={"label": "difference from the target's own ticket"},
    )
    ax.set_xlabel("target task (fine-tuned on)")
    ax.set_ylabel("source task (mask found on)")
    ax.tick_params(axis="x", rotation=0)
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


def tickets_at(ticket_runs: Mapping[str, str | Path], level: int | None = None) -> dict[str, Ticket]:
    """task -> its ticket at `level` (None: each run's highest finished level)."""
    out = {}
    for task, folder in sorted(ticket_runs.items()):
        levels = available_levels(folder)
        chosen = (max(levels) if levels else None) if level is None else level
        if chosen in levels:
            out[task] = load_ticket(folder, chosen)
    return out


def matrix_table(ticket_runs: Mapping[str, str | Path], level: int | None = None) -> pd.DataFrame:
    """One row per ticket, layer and matrix: sparsity (pooler and other non-layer matrices left
    out), plus a "whole layer" row per layer."""
    out = []
    for task, ticket in tickets_at(ticket_runs, level).items():
        label = f"{task} ({ticket.sparsity:.0%})"
        frame = ticket.matrices().dropna(subset=["layer"])
        for row in frame.itertuples(index=False):
            out.append({"ticket": label, "layer": int(row.layer), "matrix": row.matrix, "sparsity": row.sparsity})
        for row in frame.groupby("layer")[["total", "pruned"]].sum().reset_index().itertuples(index=False):
            out.append(
                {"ticket": label, "layer": int(row.layer), "matrix": LAYER_ROW, "sparsity": row.pruned / row.total}
            )
    return pd.DataFrame(out, columns=["ticket", "layer", "matrix", "sparsity"])


def layer_figure(ticket_runs: Mapping[str, str | Path], level: int | None = None):
    """Per ticket, a heatmap of sparsity: rows = matrix (and the whole layer), columns = layer."""
    import seaborn as sns

    plt = pyplot()
    table = matrix_table(ticket_runs, level)
    if table.empty:
        return _empty("no tickets")
    tickets = list(dict.fromkeys(table["ticket"]))
    sns.set_theme(style="white", context="paper")
    layers = table["layer"].nunique()
    fig, axes = panels(plt, len(tickets), 1.6 + 0.75 * layers, 3.6)
    for i, (ax, name) in enumerate(zip(axes, tickets)):
        grid = table[table["ticket"] == name].pivot_table(index="matrix", columns="layer", values="sparsity")
        order = (
            [m for m in MATRIX_ORDER if m in grid.index]
            + sorted(m for m in grid.index if m not in MATRIX_ORDER and m != LAYER_ROW)
            + [LAYER_ROW]
        )
        grid = grid.reindex(order)
        sns.heatmap(
            grid,
            annot=True,
            fmt=".0%",
            vmin=0,
            vmax=1,
            cmap="rocket_r",
            linewidths=0.5,
            linecolor="white",
            cbar=False,
            ax=ax,
            annot_kws={"fontsize": 8},
            yticklabels=i % PANELS_PER_ROW == 0,
        )
        ax.set_title(name)
        ax.set_xlabel("layer")
        ax.set_ylabel("matrix" if i % PANELS_PER_ROW == 0 else "")
        ax.axhline(len(order) - 1, color="k", lw=1)
    fig.tight_layout()
    return fig


def overlap_table(ticket_runs: Mapping[str, str | Path], level: int | None = None) -> pd.DataFrame:
    """Jaccard overlap of the pruned weights between the tickets of every pair of tasks."""
    tickets = tickets_at(ticket_runs, level)
    names = list(tickets)
    return pd.DataFrame([[tickets[a].overlap(tickets[b]) for b in names] for a in names], index=names, columns=names)


def overlap_figure(ticket_runs: Mapping[str, str | Path], level: int | None = None):
    import seaborn as sns

    plt = pyplot()
    table = overlap_table(ticket_runs, level)
    if table.empty:
        return _empty("no tickets")
    sns.set_theme(style="white", context="paper")
    fig, ax = plt.subplots(figsize=(2.4 + 1.0 * len(table), 1.4 + 0.8 * len(table)))
    sns.heatmap(
        table,
        annot=True,
        fmt=".2f",
        vmin=0,
        vmax=1,
        cmap="mako",
        square=True,
        linewidths=0.5,
        ax=ax,
        cbar_kws={"label": "Jaccard overlap of pruned weights"},
    )
    ax.tick_params(axis="x", rotation=0)
    ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


def save_figure(fig, folder: str | Path, name: str, dpi: int = 110) -> dict[str, Path]:
    """`<folder>/<name>.png` and `.svg` (each written atomically); returns both paths."""
    from ticketlib.foundations.atomic import atomic_path

    out = {}
    for kind in ("png", "svg"):
        path = Path(folder) / f"{name}.{kind}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=kind, dpi=dpi, bbox_inches="tight")
        out[kind] = path
    return out
