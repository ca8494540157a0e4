"""Writes the notebooks' cells (run once to create or reshape them; the .ipynb files are the
source of truth afterwards, and are committed executed with the smoke profile:
`python -m ticketlib.sweep refresh-notebooks smoke`).

Cells tagged "parameters" are papermill's; cells whose first line is `# NBVAL_CHECK_OUTPUT`
are the ones nbval compares (run with --nbval-lax); the others only have to run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

RECIPE = '''\
# The recipe (ticketlib.params.Recipe): task, data, model, training, pruning.
task = "rt-sentiment"
model = "offline-minilm"      # the offline MiniLM-L6 (a pinned registry asset); "bert-base-uncased" needs the hub
source = "offline"            # "offline" (registry assets), "glue_dir" ($TICKETLIB_GLUE_DIR) or "hub"
num_layers = None             # keep only the first n encoder layers (None: all)
max_train_examples = 2000     # seeded subset sizes (None: the whole split)
max_eval_examples = 500
max_length = None             # tokens per sequence (None: the task's recipe)
learning_rate = 5e-5
batch_size = 32
epochs = 1.0
max_steps = None              # overrides epochs
levels = 2                    # IMP levels after the dense level 0
schedule = "paper"            # "paper" (level k prunes k * rate of the original set) or "fraction" (rate of the rest)
rate = 0.2
include_pooler = False        # MiniLM-L6's pooler was never trained: pruning it collapses the classifier
head_policy = "reinit"        # between IMP levels: "reinit", "keep" (the reference code), "rewind"
seed = 0
recipe_extra = {}             # any other Recipe field, e.g. {"warmup_steps": 100, "threads": 1}
'''

SWEEP = '''
run_dir = ""                  # set by the sweep; empty: runs/manual/<experiment>/<hash>
run_id = ""'''

SETUP = '''\
import pandas as pd
from IPython.display import Markdown, display
from ticketlib import experiments as ex
from ticketlib import report
from ticketlib.params import Recipe

pd.set_option("display.precision", 3)
recipe = Recipe.from_namespace(globals(), **recipe_extra)'''


def check(source: str) -> str:
    return "# NBVAL_CHECK_OUTPUT\n" + source


def notebook(title: str, intro: str, params: str, cells: list, setup: str | None = SETUP) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(new_markdown_cell(f"# {title}\n\n{intro}"))
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    if setup:
        nb.cells.append(new_code_cell(setup))
    for item in cells:
        nb.cells.append(new_markdown_cell(item[3:]) if item.startswith("md:") else new_code_cell(item))
    return nb


NOTEBOOKS = {
    "01_find_tickets.ipynb": notebook(
        "1. Find tickets by IMP",
        "Iterative magnitude pruning (the paper's IMP): fine-tune, prune the trained weights by global "
        "magnitude to the next level's sparsity, rewind every BERT weight to the pre-trained theta_0, "
        "repeat. Each level's mask is a ticket (`<run_dir>/imp/level_XX/mask.safetensors`).",
        RECIPE + SWEEP,
        ["rows = ex.find_tickets(recipe, run_dir, run_id)",
         "md:## Metric vs sparsity, per level",
         "table = rows.pivot_table(index=[\"level\", \"sparsity\"], columns=\"metric\", values=\"value\")\ntable",
         check("# The schedule: exact sparsity of each level (fraction of the prunable set)\n"
               "print(rows[[\"level\", \"sparsity\"]].drop_duplicates().to_string(index=False, "
               "float_format=lambda x: f\"{x:.4f}\"))\n"
               "print(\"metrics:\", sorted(rows[\"metric\"].unique()))"),
         "fig = report.curves_figure(rows)"]),
    "02_baselines.ipynb": notebook(
        "2. Subnetworks at a sparsity",
        "The IMP ticket against the paper's baselines at the same sparsity, over several seeds: "
        "random pruning, random re-initialisation with the IMP mask, one-shot magnitude pruning (OMP) "
        "of theta_0, and standard pruning (pruning during fine-tuning, no rewinding); `full` is the "
        "unpruned model, the reference for *matching*.",
        RECIPE + '''
ticket = ""                   # a find_tickets run folder (set by the sweep); empty: found or made for this recipe
at_levels = [1]               # the ticket levels (sparsities) to test
methods = ["full", "imp", "random_pruning", "random_reinit", "omp", "standard_pruning"]
seeds = [0, 1]''' + SWEEP,
        ["rows = ex.evaluate_subnetworks(recipe, ticket, at_levels=at_levels, methods=methods, seeds=seeds,\n"
         "                                run_dir=run_dir, run_id=run_id)",
         "md:## Mean and standard deviation over seeds",
         "stats = report.seed_stats(rows)\nstats[[\"method\", \"level\", \"sparsity\", \"metric\", \"mean\", \"std\", \"seeds\"]]",
         check("# What was compared: method, level, sparsity (exact), number of seeds\n"
               "print(stats[[\"method\", \"level\", \"sparsity\", \"seeds\"]].to_string(index=False, "
               "float_format=lambda x: f\"{x:.4f}\"))"),
         "fig = report.curves_figure(rows)"]),
    "03_transfer.ipynb": notebook(
        "3. Transfer",
        "A mask found by IMP on a source task (an MLM task included), applied to theta_0 and fine-tuned "
        "on a target task (`task`). The paper: MLM masks transfer to every downstream task; "
        "downstream masks transfer in a limited way.",
        RECIPE + '''
source_task = "wiki-mlm"      # where the mask was found
source_params = {}            # recipe fields that differ for the source task's IMP run (e.g. max_length)
ticket = ""                   # the source task's find_tickets run (set by the sweep); empty: found or made
at_levels = [1]
seeds = [0, 1]''' + SWEEP,
        ["rows = ex.transfer(recipe, source_task, ticket, at_levels=at_levels, seeds=seeds,\n"
         "                   source_params=source_params, run_dir=run_dir, run_id=run_id)",
         "md:## Transferred masks, mean over seeds",
         "stats = report.seed_stats(rows)\nstats[[\"source_task\", \"task\", \"level\", \"sparsity\", \"metric\", \"mean\", \"std\", \"seeds\"]]",
         check("print(stats[[\"source_task\", \"task\", \"level\", \"sparsity\", \"seeds\"]].to_string(index=False, "
               "float_format=lambda x: f\"{x:.4f}\"))")]),
    "04_rewinding.ipynb": notebook(
        "4. Rewinding ablation",
        "IMP rewinding to the pre-trained weights theta_0 (the paper) against rewinding to theta_i, the "
        "weights after i steps of fine-tuning, for a few i.",
        RECIPE + '''
rewind_steps = [0, 10]        # the i of theta_i (0 is theta_0)
ticket = ""                   # optional, a find_tickets run of this recipe, reused for theta_0''' + SWEEP,
        ["rows = ex.rewinding(recipe, rewind_steps, ticket, run_dir=run_dir, run_id=run_id)",
         "md:## Metric per level, by rewinding point",
         "table = report._main_metric(rows).pivot_table(index=[\"level\", \"sparsity\"], columns=\"rewind_step\",\n"
         "                                               values=\"value\")\ntable.columns = [f\"theta_{i}\" for i in table.columns]\ntable",
         check("print(rows[[\"rewind_step\", \"level\", \"sparsity\"]].drop_duplicates().to_string(index=False, "
               "float_format=lambda x: f\"{x:.4f}\"))"),
         "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3.2))\n"
         "for step, group in report._main_metric(rows).groupby(\"rewind_step\"):\n"
         "    ax.plot(group[\"sparsity\"], group[\"value\"], marker=\"o\", label=f\"rewind to theta_{step}\")\n"
         "ax.set_xlabel(\"sparsity\"); ax.set_ylabel(rows[\"metric\"].iloc[0]); ax.legend(); ax.set_title(task)"]),
    "05_summary.ipynb": notebook(
        "5. Summary",
        "The paper's Table 2 for this run, metric-vs-sparsity curves (mean +/- std over seeds, the "
        "matching band shaded), the transfer heatmap, per-layer sparsity of the tickets, and the overlap "
        "of masks found on different tasks.",
        '''runs = []                     # run folders to summarise (set by the sweep); empty: the manual runs
level = None                  # the ticket level for the layer and overlap views (None: each run's highest)
note = ""                     # what this profile's budget can and cannot show (set by the profile)''' + SWEEP,
        ['''import pandas as pd
from IPython.display import Markdown, display
from ticketlib import experiments as ex
from ticketlib import report

pd.set_option("display.precision", 3)
rows = ex.collect_rows(runs)
tickets = ex.ticket_runs(runs)
display(Markdown(report.budget_note(rows, note)))''',
         "md:## Table 2: highest matching sparsity",
         "table2 = report.matching_table(rows)\ntable2",
         check("print(table2[[\"task\", \"sparsities tested\", \"seeds per sparsity\"]].to_string(index=False))"),
         "md:## Metric vs sparsity",
         "curves = report.curves_figure(rows)",
         "md:## Transfer",
         "transfer = report.transfer_table(rows)\ntransfer",
         "transfer_fig = report.transfer_figure(rows)",
         "md:## Per-layer sparsity of the tickets",
         "layers = report.layer_table(tickets, level)\nlayers",
         check("print(sorted(tickets))\nprint(list(layers.index))"),
         "layers_fig = report.layer_figure(tickets, level)",
         "md:## Overlap of tickets found on different tasks (Jaccard, pruned weights)",
         "overlap = report.overlap_table(tickets, level)\noverlap",
         "overlap_fig = report.overlap_figure(tickets, level)",
         '''if run_dir:  # for the sweep's report: tables and figures shown inline in reports/index.html
    report.save_summary(run_dir, {"table_2_matching": table2, "transfer": transfer, "layer_sparsity": layers,
                                  "mask_overlap": overlap},
                        {"curves": curves, "transfer_heatmap": transfer_fig, "layer_sparsity": layers_fig,
                         "mask_overlap": overlap_fig}, note=report.budget_note(rows, note))'''], setup=None),
    "06_explore.ipynb": notebook(
        "6. Explore a ticket",
        "Load any ticket, from a find_tickets run folder (at a level) or from a mask file, and inspect it: "
        "metadata, sparsity per layer and per matrix, fully pruned matrices, overlap with another ticket. "
        "In Jupyter, change `ticket`/`level` and re-run, or call the `ex.load_ticket(...)` API below.",
        RECIPE + '''
ticket = ""                   # a find_tickets run folder or a mask.safetensors; empty: found or made for this recipe
level = None                  # None: the highest finished level
compare_with = ""             # optional second ticket (run folder or mask file) for the overlap''' + SWEEP,
        ["source = ex.ensure_ticket(recipe, ticket)\nt = ex.load_ticket(source, level)\n"
         "print(f\"level {t.level}, sparsity {t.sparsity:.2%}, {len(t.mask)} matrices\")",
         check("print(f\"sparsity {t.sparsity:.4f}\")\n"
               "print({k: t.meta[k] for k in (\"format\", \"task\", \"level\") if k in t.meta})"),
         "md:## Metadata",
         "pd.Series(t.meta).drop(labels=[\"mask_sha256\"], errors=\"ignore\").to_frame(\"value\")",
         "md:## Sparsity per layer",
         "t.layers()",
         "md:## Sparsity per matrix (layer x matrix)",
         '''import matplotlib.pyplot as plt
matrices = t.matrices()
grid = matrices.dropna(subset=["layer"]).pivot(index="matrix", columns="layer", values="sparsity")
fig, ax = plt.subplots(figsize=(1.5 + 0.8 * grid.shape[1], 3))
image = ax.imshow(grid.values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
ax.set_xticks(range(grid.shape[1]), [f"layer {c}" for c in grid.columns])
ax.set_yticks(range(grid.shape[0]), grid.index)
fig.colorbar(image, ax=ax, label="sparsity")
fully = matrices[matrices["fully_pruned"]]
print("fully pruned matrices:", list(fully["name"]) or "none")''',
         "md:## The IMP run this ticket came from",
         "ex.imp_levels_table(source) if source.is_dir() else \"(a mask file)\"",
         "md:## Overlap",
         '''if compare_with:
    other = ex.load_ticket(compare_with)
    print(f"Jaccard overlap of pruned weights with {compare_with}: {t.overlap(other):.3f}")
else:
    from ticketlib.imp import random_mask
    model, _ = ex.fresh_model(recipe)
    rand = ex.Ticket(random_mask(model, t.sparsity, seed=0, spec=recipe.prune_config().spec()), {}, source)
    print(f"overlap with a random mask of the same sparsity: {t.overlap(rand):.3f} "
          f"(chance level: about {t.sparsity / (2 - t.sparsity):.3f})")''']),
}


if __name__ == "__main__":
    folder = Path(__file__).parent
    names = sys.argv[1:] or list(NOTEBOOKS)
    for name in names:
        nbformat.write(NOTEBOOKS[name], str(folder / name))
        print("wrote", folder / name)
