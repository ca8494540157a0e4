"""Results and reports: the tidy results table, the paper's summaries, and `reports/index.html`.

Summaries (the summary notebook calls these; each returns a DataFrame or a matplotlib figure):
  matching_table   the paper's Table 2 for this run: per task, the highest sparsity whose
                   mean over seeds is within one std of the full model's mean ("matching"),
                   and the stricter ">= full" (Table 4)
  curves_figure    metric vs sparsity per method, mean +/- std over seeds, matching band shaded
  transfer_table / transfer_figure   source task x target task
  layer_table / layer_figure         per-layer sparsity of each task's ticket
  overlap_table / overlap_figure     Jaccard overlap of the pruned weights of tickets found on different tasks

`build_report(reports)` turns `runs.json` (written by the sweep) into `index.html`: every run
with its status, parameters and duration, a link to its executed notebook as HTML (inputs
hidden), and the summary run's tables and figures inline. Everything is local files: no
script or style from a CDN.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Sequence

import pandas as pd

from .results import ROW_COLUMNS  # noqa: F401
from .tickets import available_levels, load_ticket



def _main_metric(rows: pd.DataFrame) -> pd.DataFrame:
    """Only each task's matching metric (accuracy, F1, Pearson, masked accuracy...)."""
    from .tasks import get_task

    keep = rows["metric"] == rows["task"].map(lambda t: get_task(t).matching_metric)
    return rows[keep]


def seed_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds per (experiment, method, task, source_task, level, rewind_step)."""
    rows = _main_metric(rows)
    keys = ["experiment", "method", "task", "source_task", "level", "rewind_step", "metric"]
    stats = rows.groupby(keys, dropna=False).agg(sparsity=("sparsity", "mean"), mean=("value", "mean"),
                                                 std=("value", "std"), seeds=("seed", "nunique")).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return stats


def full_reference(stats: pd.DataFrame, task: str) -> tuple[float, float, int] | None:
    """(mean, std, seeds) of the unpruned model on `task`: the baselines' "full" rows, else the
    IMP runs' level 0 (one seed each, std 0)."""
    for select in (lambda s: (s["method"] == "full") & (s["task"] == task),
                   lambda s: (s["method"] == "imp") & (s["task"] == task) & (s["level"] == 0)
                   & (s["rewind_step"] == 0)):
        found = stats[select(stats)]
        if len(found):
            best = found.sort_values("seeds").iloc[-1]
            return float(best["mean"]), float(best["std"]), int(best["seeds"])
    return None


def matching_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 (and Table 4) for this run's IMP tickets, per task."""
    stats = seed_stats(rows)
    imp = stats[(stats["method"] == "imp") & (stats["rewind_step"] == 0) & (stats["source_task"] == stats["task"])]
    out = []
    for task in sorted(imp["task"].unique()):
        reference = full_reference(stats, task)
        if reference is None:
            continue
        mean, std, seeds = reference
        # Multi-seed evaluations (baselines) win over the one-seed IMP search at the same level.
        points = imp[imp["task"] == task].sort_values("seeds").drop_duplicates("level", keep="last")
        points = points[points["level"] > 0]
        within = points[points["mean"] >= mean - std]
        strict = points[points["mean"] >= mean]
        out.append({"task": task, "metric": points["metric"].iloc[0] if len(points) else "",
                    "full mean": mean, "full std": std, "full seeds": seeds,
                    "sparsities tested": ", ".join(f"{s:.0%}" for s in sorted(points["sparsity"])),
                    "seeds per sparsity": ", ".join(str(int(n)) for n in points.sort_values("sparsity")["seeds"]),
                    "highest matching (within 1 std)": _highest(within),
                    "highest matching (>= full)": _highest(strict)})
    return pd.DataFrame(out)


def _highest(points: pd.DataFrame) -> str:
    return f"{points['sparsity'].max():.0%}" if len(points) else "none"


def curves_figure(rows: pd.DataFrame, tasks: Sequence[str] | None = None):
    """Metric vs sparsity per task: each method's mean +/- std over seeds; the full model's
    mean +/- std shaded (the matching band)."""
    import matplotlib.pyplot as plt

    stats = seed_stats(rows)
    stats = stats[stats["experiment"].isin(["find_tickets", "baselines"])]
    tasks = list(tasks or sorted(stats["task"].unique()))
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4.6 * max(1, len(tasks)), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        part = stats[stats["task"] == task]
        reference = full_reference(stats, task)
        if reference:
            mean, std, seeds = reference
            ax.axhspan(mean - std, mean + std, color="0.85", label=f"full model ±1 std ({seeds} seeds)")
            ax.axhline(mean, color="0.5", lw=0.8)
        search = part[(part["experiment"] == "find_tickets") & (part["rewind_step"] == 0)]
        if len(search):
            search = search.sort_values("sparsity")
            ax.plot(search["sparsity"], search["mean"], "k:", marker=".", label="IMP search run (1 seed)")
        evaluated = part[(part["experiment"] == "baselines") & (part["method"] != "full")]
        for method, group in evaluated.groupby("method"):
            group = group.sort_values("sparsity")
            ax.errorbar(group["sparsity"], group["mean"], yerr=group["std"], marker="o", capsize=3, label=method)
        ax.set_title(task)
        ax.set_xlabel("sparsity")
        ax.set_ylabel(part["metric"].iloc[0] if len(part) else "metric")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}"))
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(4, len(handles)),
                   bbox_to_anchor=(0.5, -0.02), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def transfer_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean metric over seeds: rows = source task of the mask, columns = target task (at the
    transfer runs' levels). The diagonal is the task's own IMP ticket at the same levels, when
    the baselines evaluated it there."""
    stats = seed_stats(rows)
    moved = stats[stats["method"] == "transfer"]
    own = stats[(stats["method"] == "imp") & (stats["experiment"] == "baselines") & stats["level"].isin(moved["level"])]
    cells = pd.concat([moved, own])
    if not len(moved):
        return pd.DataFrame()
    return cells.pivot_table(index="source_task", columns="task", values="mean", aggfunc="mean")


def transfer_figure(rows: pd.DataFrame):
    import matplotlib.pyplot as plt

    table = transfer_table(rows)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * max(1, table.shape[1]), 1.2 + 0.7 * max(1, table.shape[0])))
    if table.empty:
        ax.text(0.5, 0.5, "no transfer runs", ha="center", va="center")
        ax.axis("off")
        return fig
    image = ax.imshow(table.values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=20)
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set_xlabel("target task (fine-tuned on)")
    ax.set_ylabel("source task (mask found on)")
    for (i, j), value in pd.DataFrame(table.values).stack().items():
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w", fontsize=9)
    fig.colorbar(image, ax=ax, label="mean metric over seeds")
    fig.tight_layout()
    return fig


def _tickets(ticket_runs: dict, level: int | None):

    out = {}
    for task, folder in sorted(ticket_runs.items()):
        levels = available_levels(folder)
        chosen = max(levels) if level is None else level
        if chosen in levels:
            out[task] = load_ticket(folder, chosen)
    return out


def layer_table(ticket_runs: dict, level: int | None = None) -> pd.DataFrame:
    """Per-layer sparsity (rows: layer, columns: task) of each task's ticket at `level`
    (default: each run's highest level)."""
    tickets = _tickets(ticket_runs, level)
    frames = {f"{task} ({t.sparsity:.0%})": t.layers().set_index("name")["sparsity"] for task, t in tickets.items()}
    return pd.DataFrame(frames)


def layer_figure(ticket_runs: dict, level: int | None = None):
    import matplotlib.pyplot as plt

    table = layer_table(ticket_runs, level)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if table.empty:
        ax.text(0.5, 0.5, "no tickets", ha="center", va="center")
        ax.axis("off")
        return fig
    table.index = [name.replace("encoder.layer.", "layer ") for name in table.index]
    table.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("sparsity of the layer")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.legend(fontsize=8, title="ticket (overall sparsity)")
    fig.tight_layout()
    return fig


def overlap_table(ticket_runs: dict, level: int | None = None) -> pd.DataFrame:
    """Jaccard overlap of the pruned weights between the tickets of every pair of tasks."""
    tickets = _tickets(ticket_runs, level)
    names = list(tickets)
    return pd.DataFrame([[tickets[a].overlap(tickets[b]) for b in names] for a in names], index=names, columns=names)


def overlap_figure(ticket_runs: dict, level: int | None = None):
    import matplotlib.pyplot as plt

    table = overlap_table(ticket_runs, level)
    fig, ax = plt.subplots(figsize=(1.5 + 1.4 * max(1, len(table)), 1.2 + 1.1 * max(1, len(table))))
    if table.empty:
        ax.text(0.5, 0.5, "no tickets", ha="center", va="center")
        ax.axis("off")
        return fig
    image = ax.imshow(table.values, vmin=0, vmax=1, cmap="magma")
    ax.set_xticks(range(len(table)), table.columns, rotation=20)
    ax.set_yticks(range(len(table)), table.index)
    for (i, j), value in pd.DataFrame(table.values).stack().items():
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize=9)
    fig.colorbar(image, ax=ax, label="Jaccard overlap of pruned weights")
    fig.tight_layout()
    return fig


def budget_note(rows: pd.DataFrame, note: str = "") -> str:
    """Markdown: what this run's budget was (examples, steps, seeds, sparsities) and `note`,
    the profile's plain statement of what such a budget can and cannot show."""
    if not len(rows):
        return "**No results yet**: run the other notebooks (or a sweep) first."
    steps = rows.drop_duplicates(["run_id", "method", "seed", "level", "rewind_step"])["steps"]
    seeds = rows[rows["experiment"] == "baselines"]["seed"].nunique()
    facts = (f"This run: {rows['task'].nunique()} task(s) ({', '.join(sorted(rows['task'].unique()))}), "
             f"{len(rows.drop_duplicates(['run_id', 'method', 'seed', 'level', 'rewind_step']))} fine-tuning runs of "
             f"{int(steps.min())}-{int(steps.max())} steps each, sparsities up to {rows['sparsity'].max():.0%}, "
             f"{seeds or 1} seed(s) per evaluated subnetwork, model {', '.join(sorted(rows['model'].astype(str).unique()))}.")
    return facts + ("\n\n" + note.strip() if note.strip() else "")


def save_summary(run_dir: str | Path, tables: dict[str, pd.DataFrame], figures: dict, note: str = "") -> None:
    """The summary run's tables (CSV + HTML) and figures (PNG) under `<run_dir>/summary/`,
    for `build_report` to show inline."""
    from .store import atomic_path

    folder = Path(run_dir) / "summary"
    folder.mkdir(parents=True, exist_ok=True)
    order = []
    for name, table in tables.items():
        with atomic_path(folder / f"{name}.csv") as tmp:
            table.to_csv(tmp)
        with atomic_path(folder / f"{name}.html") as tmp:
            tmp.write_text(table.to_html(float_format=lambda x: f"{x:.3f}", border=0, classes="table"))
        order.append({"kind": "table", "name": name})
    for name, fig in figures.items():
        with atomic_path(folder / f"{name}.png") as tmp:
            fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
        order.append({"kind": "figure", "name": name})
    (folder / "order.json").write_text(json.dumps(order))
    if note:
        (folder / "note.html").write_text("".join(f"<p>{html.escape(p)}</p>" for p in note.split("\n\n")))


# --- index.html -----------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.ok{color:#176f2c;font-weight:600}.failed{color:#b00020;font-weight:600}.skipped,.pending{color:#a06000;font-weight:600}
code,.params{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.params{max-width:520px;white-space:normal;word-break:break-word;color:#444}
img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:0.5em 1em}
"""


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items()))


def build_report(reports: str | Path) -> Path:
    """`<reports>/index.html` from `<reports>/runs.json`; each run's executed notebook (HTML)
    copied to `<reports>/runs/`, the summary's tables and figures to `<reports>/summary/`."""
    reports = Path(reports)
    meta = json.loads((reports / "runs.json").read_text())
    (reports / "runs").mkdir(parents=True, exist_ok=True)
    rows_html, summary_dir = [], None
    for run in meta["runs"]:
        folder = Path(run["folder"])
        link = ""
        if (folder / "notebook.html").is_file():
            target = reports / "runs" / f"{run['experiment']}-{folder.name.removesuffix('.partial')}.html"
            if not target.is_file() or target.stat().st_mtime < (folder / "notebook.html").stat().st_mtime:
                shutil.copyfile(folder / "notebook.html", target)
            link = f'<a href="runs/{html.escape(target.name)}">notebook</a>'
        if run["experiment"] == "summary" and run["status"] == "ok" and (folder / "summary").is_dir():
            summary_dir = folder / "summary"
        duration = f"{run['duration_s']:.1f} s" if run.get("duration_s") is not None else ""
        status = run["status"] + (" (done before)" if run.get("skipped") and run["status"] == "ok" else "")
        error = f"<br><small>{html.escape(str(run['error']))}</small>" if run.get("error") else ""
        rows_html.append(
            f"<tr><td>{html.escape(run['experiment'])}</td><td>{html.escape(run['label'] or '')}</td>"
            f"<td><code>{run['run_id']}</code></td><td class=\"{html.escape(run['status'])}\">{html.escape(status)}"
            f"{error}</td><td>{duration}</td><td>{link}</td>"
            f"<td class=\"params\">{html.escape(_params_text(run['params']))}</td></tr>")
    summary_html = _summary_section(summary_dir, reports)
    total = sum(r.get("duration_s") or 0 for r in meta["runs"])
    counts = pd.Series([r["status"] for r in meta["runs"]]).value_counts().to_dict()
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bert-tickets: {html.escape(str(meta.get('profile')))}</title>
<style>{STYLE}</style></head><body>
<h1>Lottery tickets in pre-trained BERT: profile <code>{html.escape(str(meta.get('profile')))}</code></h1>
<p>{html.escape(meta.get('description') or '')}</p>
<p>{len(meta['runs'])} runs: {', '.join(f'{n} {s}' for s, n in sorted(counts.items()))};
compute time of the runs {total / 60:.1f} min. Tidy results: <a href="results.csv">results.csv</a>.
Run store: <code>{html.escape(meta['store'])}</code>.</p>
<h2 id="summary">Summary</h2>
{summary_html}
<h2 id="runs">Runs</h2>
<table><thead><tr><th>experiment</th><th>grid point</th><th>run id</th><th>status</th><th>duration</th>
<th>executed notebook</th><th>parameters</th></tr></thead><tbody>
{''.join(rows_html)}
</tbody></table>
</body></html>
"""
    index = reports / "index.html"
    tmp = reports / ".index.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(index)
    return index


def _summary_section(summary_dir: Path | None, reports: Path) -> str:
    if summary_dir is None:
        return '<p class="note">No finished summary run yet.</p>'
    target = reports / "summary"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(summary_dir, target)
    parts = []
    note = target / "note.html"
    if note.is_file():
        parts.append(f'<div class="note">{note.read_text()}</div>')
    for item in json.loads((target / "order.json").read_text()):
        title = html.escape(item["name"].replace("_", " "))
        if item["kind"] == "table":
            parts.append(f"<h3>{title}</h3>{(target / (item['name'] + '.html')).read_text()}")
        else:
            parts.append(f'<h3>{title}</h3><img src="summary/{html.escape(item["name"])}.png" alt="{title}">')
    return "\n".join(parts)
