"""The notebooks' source: every cell of notebooks/*.ipynb is written here.

The committed .ipynb files hold these cells plus the outputs of one execution with the smoke
profile (scripts/refresh_notebooks.py; nbval compares them in CI, see docs/notebooks.md).
tests/test_notebooks.py fails when a committed notebook's cells differ from what this script
produces, so edit a notebook here, then run

    .venv/bin/python scripts/refresh_notebooks.py      # writes the cells and executes them

(`python scripts/build_notebooks.py [names]` writes the cells alone, without outputs.)

The recipe part of each parameters cell is generated from `ticketlib.tasks.params.Recipe`: every field,
its default and its help text (`params.recipe_cell`). Cells tagged "parameters" are papermill's
and the only source of parameters in a saved notebook: edit a value there, run all, and that
value is used. Cells whose first line is `# NBVAL_CHECK_OUTPUT` are the ones nbval compares.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ticketlib.tasks.params import recipe_cell

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
CHECK = "# NBVAL_CHECK_OUTPUT"


def recipe_params() -> str:
    return (
        "# The recipe: every field of ticketlib.tasks.params.Recipe, with its default and help text\n"
        + recipe_cell()
        + "recipe_extra = {}  # Recipe fields as one dict, applied last (profiles use it, e.g. {'threads': 1})\n"
    )


SWEEP = '''run_dir = ""  # set by the sweep; empty: the run's folder in the store, <store>/<experiment>/<task>-<id>
run_id = ""'''

SETUP = """\
import pandas as pd
from IPython.display import Markdown, display
from ticketlib.study import cells, figures
from ticketlib.study import experiments as ex
from ticketlib.tasks.params import Recipe

pd.set_option("display.precision", 3)
recipe = Recipe.from_namespace(globals(), **recipe_extra)"""


def check(source: str) -> str:
    return f"{CHECK}\n{source}"


def own_names(params: str) -> list[str]:
    """The names a parameters cell assigns."""
    return [t.id for node in ast.parse(params).body if isinstance(node, ast.Assign) for t in node.targets]


def check_parameters(params: str, recipe: bool) -> str:
    """The first lines after the parameters (and papermill's injected cell): an unknown or misspelt
    parameter stops the notebook here (ticketlib.study.notebook_params)."""
    from ticketlib.tasks.params import Recipe

    names = [n for n in own_names(params) if not (recipe and n in Recipe.names())]
    return (
        "from ticketlib.study.notebook_params import check_parameters\n"
        f"check_parameters(globals(), {names!r}{', recipe=True' if recipe else ''})  # an unknown name stops here\n"
    )


def notebook(title: str, intro: str, params: str, cells: list[str], setup: str | None = SETUP) -> nbformat.NotebookNode:
    """A markdown title, the parameters cell, the set-up cell, then `cells` ("md:" starts a
    markdown cell)."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(new_markdown_cell(f"# {title}\n\n{intro}"))
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    cells = [setup, *cells] if setup else list(cells)
    cells[0] = check_parameters(params, recipe=bool(setup)) + cells[0]  # the cell after the parameters
    for item in cells:
        nb.cells.append(new_markdown_cell(item[3:]) if item.startswith("md:") else new_code_cell(item))
    return nb


def find_tickets() -> nbformat.NotebookNode:
    return notebook(
        "1. Find tickets by IMP",
        "Iterative magnitude pruning (the paper's IMP): fine-tune, prune the trained weights by global "
        "magnitude to the next level's sparsity, rewind every BERT weight to the pre-trained theta_0, "
        "repeat. Each level's mask is a ticket (`<run_dir>/imp/level_XX/mask.safetensors`).\n\n"
        "The parameters below are the hand-run defaults (the recipe's); edit them and run all.",
        recipe_params() + SWEEP,
        [
            "rows = ex.find_tickets(recipe, run_dir, run_id)",
            "md:## Metric vs sparsity, per level",
            "# each level's metrics, then the task's no-signal score (what ignoring the input scores)\n"
            "table = ex.levels_table(rows)\ntable",
            check(
                "# The schedule: exact sparsity of each level (fraction of the prunable set)\n"
                'imp = rows[rows["method"] == "imp"]\n'
                'print(imp[["level", "sparsity"]].drop_duplicates().to_string(index=False, '
                'float_format=lambda x: f"{x:.4f}"))\n'
                'print("metrics:", sorted(imp["metric"].unique()))'
            ),
            "fig = figures.curves_figure(rows)",
        ],
    )


def baselines() -> nbformat.NotebookNode:
    return notebook(
        "2. Subnetworks at a sparsity",
        "The IMP ticket against the paper's baselines at the same sparsity, over several seeds: "
        "random pruning, random re-initialisation with the IMP mask, one-shot magnitude pruning (OMP) "
        "of theta_0, and standard pruning (pruning during fine-tuning, no rewinding); `full` is the "
        "unpruned model, the reference for *matching*.",
        recipe_params()
        + """
ticket = ""  # a find_tickets run folder (set by the sweep); empty: the hand-run ticket of this recipe (01_find_tickets)
train_ticket = False  # True: find that ticket now (IMP) if it does not exist yet
at_levels = [1]  # the ticket levels (sparsities) to test
methods = ["full", "imp", "random_pruning", "random_reinit", "omp", "standard_pruning"]
seeds = [0, 1]
"""
        + SWEEP,
        [
            "rows = ex.evaluate_subnetworks(recipe, ticket, at_levels=at_levels, methods=methods, seeds=seeds,\n"
            "                                run_dir=run_dir, run_id=run_id, train_ticket=train_ticket)",
            "md:## Mean and standard deviation over seeds",
            'stats = cells.seed_stats(rows)\nstats[["method", "level", "sparsity", "metric", "mean", "std", "seeds"]]',
            check(
                "# What was compared: method, level, sparsity (exact), number of seeds\n"
                'print(stats[["method", "level", "sparsity", "seeds"]].to_string(index=False, '
                'float_format=lambda x: f"{x:.4f}"))'
            ),
            "fig = figures.curves_figure(rows)",
        ],
    )


def transfer() -> nbformat.NotebookNode:
    return notebook(
        "3. Transfer",
        "A mask found by IMP on a source task (an MLM task included), applied to theta_0 and fine-tuned "
        "on a target task (`task`). The paper: MLM masks transfer to every downstream task; "
        "downstream masks transfer in a limited way.",
        recipe_params()
        + """
source_task = "wiki-mlm"  # where the mask was found
source_params = {}  # recipe fields that differ for the source task's IMP run (e.g. max_length)
ticket = ""  # the source task's find_tickets run (set by the sweep); empty: its hand-run ticket (01_find_tickets)
train_ticket = False  # True: find that ticket now (IMP on source_task) if it does not exist yet
at_levels = [1]
seeds = [0, 1]
"""
        + SWEEP,
        [
            "rows = ex.transfer(recipe, source_task, ticket, at_levels=at_levels, seeds=seeds,\n"
            "                   source_params=source_params, run_dir=run_dir, run_id=run_id, train_ticket=train_ticket)",
            "md:## Transferred masks, mean over seeds",
            "stats = cells.seed_stats(rows)\n"
            'stats[["source_task", "task", "level", "sparsity", "metric", "mean", "std", "seeds"]]',
            check(
                'print(stats[["source_task", "task", "level", "sparsity", "seeds"]].to_string(index=False, '
                'float_format=lambda x: f"{x:.4f}"))'
            ),
        ],
    )


def rewinding() -> nbformat.NotebookNode:
    return notebook(
        "4. Rewinding ablation",
        "IMP rewinding to the pre-trained weights theta_0 (the paper) against rewinding to theta_i, the "
        "weights after i steps of fine-tuning, for a few i.",
        recipe_params()
        + """
rewind_steps = [0, 10]  # the i of theta_i (0 is theta_0)
ticket = ""  # optional, a find_tickets run of this recipe, reused for theta_0
"""
        + SWEEP,
        [
            "rows = ex.rewinding(recipe, rewind_steps, ticket, run_dir=run_dir, run_id=run_id)",
            "md:## Metric per level, by rewinding point",
            'table = cells.main_rows(rows).pivot_table(index=["level", "sparsity"], columns="rewind_step",\n'
            '                                          values="value")\n'
            'table.columns = [f"theta_{i}" for i in table.columns]\ntable',
            check(
                'print(rows[["rewind_step", "level", "sparsity"]].drop_duplicates().to_string(index=False, '
                'float_format=lambda x: f"{x:.4f}"))'
            ),
            "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3.2))\n"
            'lines = [ax.plot(group["sparsity"], group["value"], marker="o", label=f"rewind to theta_{step}")\n'
            '         for step, group in cells.main_rows(rows).groupby("rewind_step")]\n'
            'ax.set_xlabel("sparsity"); ax.set_ylabel(rows["metric"].iloc[0]); ax.legend(); ax.set_title(task)',
        ],
    )


RUNS_PARAM = (
    'runs = ""  # "": the last study\'s runs (reports/runs.json); "store": every run in the run store; '
    "a run folder, a store, a reports folder, or a list of run folders (set by the sweep)"
)


def summary() -> nbformat.NotebookNode:
    return notebook(
        "5. Summary",
        "The paper's Table 2 for a study, metric-vs-sparsity curves (mean +/- std over seeds, the "
        "matching band shaded), the transfer heatmap, per-layer sparsity of the tickets, and the overlap "
        "of masks found on different tasks. By default it reads the last study's runs "
        "(`bash scripts/study.sh`); it trains nothing and writes nothing unless the sweep runs it.",
        RUNS_PARAM
        + """
level = None  # the ticket level for the layer and overlap views (None: the highest level every task's ticket has)
note = ""  # what this profile's budget can and cannot show (set by the profile)
"""
        + SWEEP,
        [
            """import pandas as pd
from IPython.display import Markdown, display
from ticketlib.study import figures, summary, tables
from ticketlib.study.last_study import select_runs
from ticketlib.tickets.ticket import available_levels

pd.set_option("display.precision", 3)
selected = select_runs(runs)
print(selected.describe())
rows = selected.rows()
tickets = selected.tickets()
if level is None:  # one level for every task, as the study's summary compares them
    level = min((max(available_levels(t)) for t in tickets.values()), default=None)
display(Markdown(summary.budget_note(rows, note)))""",
            "md:## Table 2: highest matching sparsity",
            "table2 = tables.matching_table(rows)\ntable2",
            check(
                'print(table2.reindex(columns=["task", "sparsities tested", "seeds per sparsity"])'
                ".to_string(index=False))"
            ),
            "md:## Metric vs sparsity",
            "curves = figures.curves_figure(rows)",
            "md:## Transfer",
            "transfer = tables.transfer_table(rows)\ntransfer",
            "transfer_fig = figures.transfer_figure(rows)",
            "md:## Per-layer sparsity of the tickets",
            "layers = summary.layer_table(tickets, level)\nlayers",
            check("print(sorted(tickets))\nprint(list(layers.index))"),
            "layers_fig = figures.layer_figure(tickets, level)",
            "md:## Overlap of tickets found on different tasks (Jaccard, pruned weights)",
            "overlap = figures.overlap_table(tickets, level)\noverlap",
            "overlap_fig = figures.overlap_figure(tickets, level)",
            "md:## Ticket or magnitude pruning?\n\nEach ticket against the one-shot magnitude mask of theta_0 at "
            "the same sparsity (what OMP prunes), and against the other tasks' tickets: Jaccard of the pruned "
            "weights, as rows the sweep adds to `results.csv` (method `mask_overlap`).",
            "from ticketlib.study.overlap import study_overlap_rows\n\n"
            "overlaps = study_overlap_rows(tickets, figures.tickets_at(tickets, level))\n"
            'overlaps[["task", "source_task", "level", "sparsity", "value"]]',
            """if run_dir:  # for the sweep's report: tables and figures shown inline in reports/index.html
    from ticketlib.tickets.results import write_rows

    write_rows(run_dir, overlaps.to_dict("records"))  # collected into results.csv with every run's rows
    summary.save_summary(run_dir, {"table_2_matching": table2, "transfer": transfer, "layer_sparsity": layers,
                                   "mask_overlap": overlap},
                         {"curves": curves, "transfer_heatmap": transfer_fig, "layer_sparsity": layers_fig,
                          "mask_overlap": overlap_fig}, note=summary.budget_note(rows, note))""",
        ],
        setup=None,
    )


def explore() -> nbformat.NotebookNode:
    return notebook(
        "6. Explore a ticket",
        "Pick a run, a task's ticket and a level, and see the ticket's metrics against the baselines, its "
        "sparsity per layer and per matrix, the fully pruned matrices, and its overlap with another ticket. "
        "By default it shows the last study's tickets (`bash scripts/study.sh`); it trains nothing.\n\n"
        "In JupyterLab the view is interactive (ipywidgets); run by papermill or nbval, or with "
        "`interactive = False`, it prints the same tables for the selection in the parameters cell.",
        RUNS_PARAM
        + """
task = ""  # the ticket's task ("": the first task with a ticket)
level = None  # the ticket's level (None: the highest finished level)
ticket = ""  # a find_tickets run folder or a mask.safetensors file; overrides runs and task (set by the sweep)
compare_with = ""  # overlap with: a task of the runs, a run folder or a mask file ("": another task's ticket, else a random mask)
interactive = True  # widgets when a Jupyter frontend runs the notebook; False: static tables only
"""
        + SWEEP,
        [
            """from ticketlib.study import explore

view = explore.Explorer(runs, task=task, level=level, ticket=ticket, compare_with=compare_with)
view.show(interactive)""",
            check("print(view.summary())"),
            "md:## The same ticket through the API\n\n`ticketlib.tickets.ticket` loads a ticket from a run folder (at a "
            "level) or a mask file; a `Ticket` has `mask`, `meta`, `layers()`, `matrices()` and `overlap(other)`.",
            """from IPython.display import display
from ticketlib.tickets.ticket import imp_levels_table, load_ticket

if view.source is not None:  # None: no ticket in these runs (see above)
    t = load_ticket(view.source, view.level)
    print(f"{t.path.name}: level {t.level}, sparsity {t.sparsity:.2%}, {len(t.mask)} matrices")
    display(imp_levels_table(view.source) if view.source.is_dir() else t.meta)""",
        ],
        setup=None,
    )


BUILDERS = {
    "01_find_tickets.ipynb": find_tickets,
    "02_baselines.ipynb": baselines,
    "03_transfer.ipynb": transfer,
    "04_rewinding.ipynb": rewinding,
    "05_summary.ipynb": summary,
    "06_explore.ipynb": explore,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook `name` (e.g. "05_summary.ipynb"), cells only, no outputs."""
    return BUILDERS[name]()


def main(argv: list[str]) -> int:
    for name in argv or list(BUILDERS):
        nbformat.write(build(name), str(NOTEBOOKS_DIR / name))
        print("wrote", NOTEBOOKS_DIR / name, "(cells only: run scripts/refresh_notebooks.py for the outputs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
