"""The experiments the notebooks run, one function each, on top of the core (ticketlib.core.imp),
run_setup (a run's folder) and subnetworks (one subnetwork fine-tuned, per method).

Every function takes a `Recipe` (ticketlib.tasks.params) and a run folder, writes its artifacts
there (masks, level folders, one JSON per finished cell so a killed run resumes), and
returns its results as tidy rows (one row per metric value), also written to
`<run_dir>/rows.csv` for the sweep's results table. Without a run folder (a notebook run by
hand) the folder is the run's folder in the store (ticketlib.study.identity): the one a sweep with the
same parameters uses, so a ticket found by hand is found again by the notebooks and the sweeps
that need it, and a sweep's run by hand runs.

  find_tickets          IMP for a task: metric vs sparsity per level
  evaluate_subnetworks  a ticket against random pruning, random re-init, OMP, standard pruning
  transfer              a mask from a source task fine-tuned on a target task
  rewinding             IMP rewinding to theta_0 against theta_i
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ticketlib.foundations.atomic import read_json
from ticketlib.foundations.paths import IMP_DIR, MANIFEST_FILE, ROWS_FILE
from ticketlib.study.last_study import tickets_listing
from ticketlib.study.run_setup import cached_cell, describe_run, resolve_run, resolve_run_dir, run_label
from ticketlib.study.subnetworks import train_mask, train_method
from ticketlib.tasks.params import Recipe
from ticketlib.tasks.run_inputs import Loaded, evaluator, fresh_model, load_data
from ticketlib.tickets.results import METHOD_TITLES, NO_SIGNAL, collect_rows, metric_rows, write_rows  # noqa: F401
from ticketlib.tickets.results import METHODS as RESULT_METHODS
from ticketlib.tickets.ticket import (  # noqa: F401
    Ticket,
    available_levels,
    imp_folder,
    imp_levels_table,
    load_ticket,
    read_level,
    ticket_runs,
)

# the methods evaluate_subnetworks trains (ticketlib.tickets.results.METHODS: names and titles)
METHODS = tuple(m for m in RESULT_METHODS if m != "transfer")


# --- 1. finding tickets ---------------------------------------------------------------------


def find_tickets(
    recipe: Recipe,
    run_dir: str | os.PathLike | None = None,
    run_id: str = "",
    rewind_step: int = 0,
    experiment: str = "find_tickets",
) -> pd.DataFrame:
    """IMP on the recipe's task (resumable): one row per level and metric. The ticket of level k
    is `<run_dir>/imp/level_0k/mask.safetensors` (layout: ticketlib.tickets.ticket)."""
    run_dir, identity = resolve_run(run_dir, experiment, recipe, {"rewind_step": rewind_step} if rewind_step else {})
    loaded = load_data(recipe)  # bad data or model fails here, before anything is written
    model, info = fresh_model(recipe, seed=recipe.seed, shown=loaded.shown_warnings)
    describe_run(run_dir, identity, experiment, recipe, rewind_step=rewind_step)
    levels = _imp_levels(recipe, run_dir / IMP_DIR, rewind_step, loaded, (model, info))
    run_id = run_id or run_label(run_dir)
    return write_rows(
        run_dir, imp_rows(levels, recipe, experiment, run_id, rewind_step) + no_signal_rows(loaded, experiment, run_id)
    )


def levels_table(rows: pd.DataFrame) -> pd.DataFrame:
    """find_tickets' rows as a table: one line per IMP level (level, sparsity) and metric columns,
    then the task's no-signal score (what ignoring the input scores), so a level near chance shows."""
    imp = rows[rows["method"] == "imp"].pivot_table(index=["level", "sparsity"], columns="metric", values="value")
    chance = rows[rows["method"] == NO_SIGNAL].groupby("metric")["value"].first()
    if chance.empty:
        return imp
    line = pd.DataFrame([chance], index=pd.MultiIndex.from_tuples([("no signal", "")], names=imp.index.names))
    table = pd.concat([imp, line[[c for c in imp.columns if c in line.columns]]])
    table.columns.name = imp.columns.name
    return table


def no_signal_rows(loaded: Loaded, experiment: str, run_id: str) -> list[dict]:
    """The task's no-signal scores on this eval data (what a model that ignores its input scores:
    data.TaskData.no_signal), as rows of method "no_signal", so every report can tell whether
    the task learned (ticketlib.study.tables)."""
    recipe = loaded.recipe
    base = {
        "experiment": experiment,
        "method": NO_SIGNAL,
        "task": recipe.task,
        "source_task": recipe.task,
        "model": recipe.model,
        "seed": None,
        "level": None,
        "sparsity": None,
        "rewind_step": 0,
        "steps": 0,
        "train_seconds": 0.0,
        "run_id": run_id,
    }
    return metric_rows(base, loaded.data.no_signal())


def _imp_levels(
    recipe: Recipe, imp_dir: Path, rewind_step: int, loaded: Loaded | None = None, model_info: tuple | None = None
) -> list[dict]:
    from ticketlib.core.imp import run_imp

    loaded = loaded or load_data(recipe)
    model, info = model_info or fresh_model(recipe, seed=recipe.seed, shown=loaded.shown_warnings)
    metadata = {
        "task": recipe.task,
        "model": recipe.model,
        "num_layers": info["num_layers"],
        "source": recipe.source,
        "data": loaded.data.info.get("subset"),
    }
    return run_imp(
        model,
        loaded.data.train_features,
        evaluator(loaded),
        recipe.imp_config(rewind_step),
        imp_dir,
        metadata=metadata,
        pad_token_id=loaded.data.pad_token_id,
    )


def imp_rows(levels: list[dict], recipe: Recipe, experiment: str, run_id: str, rewind_step: int = 0) -> list[dict]:
    rows = []
    for level in levels:
        base = {
            "experiment": experiment,
            "method": "imp",
            "task": recipe.task,
            "source_task": recipe.task,
            "model": recipe.model,
            "seed": recipe.seed,
            "level": level["level"],
            "sparsity": level["sparsity"],
            "rewind_step": rewind_step,
            "steps": level["steps"],
            "train_seconds": level["train_seconds"],
            "run_id": run_id,
        }
        rows += metric_rows(base, level["metrics"])
    return rows


def ensure_ticket(recipe: Recipe, ticket: str | os.PathLike | None = "", train_if_missing: bool = False) -> Path:
    """The folder of the IMP run to take tickets from: `ticket` if given, else the finished run
    of this recipe in the store (by hand or by a study: ticketlib.study.identity). Without one, IMP
    runs now only if `train_if_missing` (a notebook's `train_ticket` parameter); otherwise a
    FileNotFoundError says which tickets the last study has and how to make one."""
    if ticket:
        path = Path(ticket)
        if not path.exists():
            raise FileNotFoundError(f"ticket {path} does not exist (a find_tickets run folder or a mask file)")
        return path
    run_dir = resolve_run_dir(None, "find_tickets", recipe)
    if (run_dir / ROWS_FILE).is_file() and available_levels(run_dir):  # rows.csv: written when IMP finished
        return run_dir
    if not train_if_missing:
        raise FileNotFoundError(
            f"no ticket for this recipe (task {recipe.task!r}): no finished find_tickets run in {run_dir}.\n"
            f"{tickets_listing()}\nSet `ticket` to one of them (a find_tickets run folder or a mask file), run "
            f"01_find_tickets with this recipe first, or set `train_ticket = True` to find it now "
            f"(IMP, {recipe.levels} level(s))."
        )
    find_tickets(recipe)  # into run_dir, the store's folder of this recipe's find_tickets
    return run_dir


# --- 2. subnetworks at a sparsity -----------------------------------------------------------


def evaluate_subnetworks(
    recipe: Recipe,
    ticket: str | os.PathLike | None = "",
    at_levels: Sequence[int] = (1,),
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] | None = (0, 1),
    run_dir: str | os.PathLike | None = None,
    run_id: str = "",
    experiment: str = "baselines",
    train_ticket: bool = False,
) -> pd.DataFrame:
    """Fine-tune, per seed, the IMP ticket of each level in `at_levels` and its baselines at the
    same sparsity (see METHOD_TITLES); "full" is the unpruned model (the matching reference).
    `seeds`: the training seeds; None: the recipe's own seed, the one a profile matches the
    ticket's find_tickets run on (each seed's baselines with its own seed's mask)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; expected some of {', '.join(METHODS)}")
    given = None if seeds is None else list(seeds)  # as the run's identity has it
    seeds = [recipe.seed] if given is None else given
    ticket_dir = ensure_ticket(recipe, ticket, train_if_missing=train_ticket)
    run_dir, identity = resolve_run(
        run_dir,
        experiment,
        recipe,
        {"at_levels": list(at_levels), "methods": list(methods), "seeds": given},
        {"ticket": ticket_dir},
    )
    describe_run(
        run_dir,
        identity,
        experiment,
        recipe,
        ticket=str(ticket_dir),
        at_levels=list(at_levels),
        methods=list(methods),
        seeds=list(seeds),
    )
    loaded = load_data(recipe)
    rows = []
    for seed in seeds:
        if "full" in methods:
            result = cached_cell(run_dir, f"full-s{seed}", lambda: train_mask(loaded, None, seed))
            rows += _result_rows(result, "full", 0, recipe, seed, experiment, run_id or run_label(run_dir))
        for level in at_levels:
            ticket_mask = load_ticket(ticket_dir, level).mask
            for method in methods:
                if method == "full":
                    continue
                name = f"{method}-l{level}-s{seed}"
                result = cached_cell(run_dir, name, lambda: train_method(loaded, method, ticket_mask, level, seed))
                rows += _result_rows(result, method, level, recipe, seed, experiment, run_id or run_label(run_dir))
    return write_rows(run_dir, rows)


def _result_rows(
    result: dict,
    method: str,
    level: int,
    recipe: Recipe,
    seed: int,
    experiment: str,
    run_id: str,
    source_task: str | None = None,
) -> list[dict]:
    base = {
        "experiment": experiment,
        "method": method,
        "task": recipe.task,
        "source_task": source_task or recipe.task,
        "model": recipe.model,
        "seed": seed,
        "level": level,
        "sparsity": result["sparsity"],
        "rewind_step": 0,
        "steps": result["steps"],
        "train_seconds": result["train_seconds"],
        "run_id": run_id,
    }
    return metric_rows(base, result["metrics"])


# --- 3. transfer ----------------------------------------------------------------------------


def transfer(
    recipe: Recipe,
    source_task: str,
    ticket: str | os.PathLike | None = "",
    at_levels: Sequence[int] = (1,),
    seeds: Sequence[int] | None = (0, 1),
    source_params: dict | None = None,
    run_dir: str | os.PathLike | None = None,
    run_id: str = "",
    experiment: str = "transfer",
    train_ticket: bool = False,
) -> pd.DataFrame:
    """Fine-tune on the recipe's (target) task the IMP masks found on `source_task`
    (an MLM task included): one row per level, seed and metric, method "transfer", with the seed
    of the IMP run the mask came from (`mask_seed`). `seeds`: the training seeds; None: the
    recipe's own seed, the one a profile matches the source's find_tickets run on (per-seed
    transfer: training seed s with seed s's mask, params/cpu.yaml)."""
    given = None if seeds is None else list(seeds)  # as the run's identity has it (a sweep's too)
    seeds = [recipe.seed] if given is None else given
    source_recipe = recipe.replace(task=source_task, **(source_params or {}))
    ticket_dir = ensure_ticket(source_recipe, ticket, train_if_missing=train_ticket)
    run_dir, identity = resolve_run(
        run_dir,
        experiment,
        recipe,
        {
            "source_task": source_task,
            "source_params": dict(source_params or {}),
            "at_levels": list(at_levels),
            "seeds": given,
        },
        {"ticket": ticket_dir},
    )
    describe_run(
        run_dir,
        identity,
        experiment,
        recipe,
        ticket=str(ticket_dir),
        source_task=source_task,
        at_levels=list(at_levels),
        seeds=seeds,
    )
    loaded = load_data(recipe)
    rows = []
    for seed in seeds:
        for level in at_levels:
            ticket_at = load_ticket(ticket_dir, level)
            result = cached_cell(
                run_dir, f"transfer-l{level}-s{seed}", lambda: train_mask(loaded, ticket_at.mask, seed)
            )
            rows += [
                {**row, "mask_seed": mask_seed(ticket_at)}
                for row in _result_rows(
                    result,
                    "transfer",
                    level,
                    recipe,
                    seed,
                    experiment,
                    run_id or run_label(run_dir),
                    source_task=source_task,
                )
            ]
    return write_rows(run_dir, rows)


def mask_seed(ticket: Ticket) -> int | None:
    """The seed of the IMP run a ticket's mask came from (its mask file's metadata; None for a
    mask file that does not say)."""
    seed = ticket.meta.get("seed")
    return None if seed in (None, "None") else int(seed)


# --- 4. rewinding ---------------------------------------------------------------------------


def rewinding(
    recipe: Recipe,
    rewind_steps: Iterable[int] = (0, 10),
    ticket: str | os.PathLike | None = "",
    run_dir: str | os.PathLike | None = None,
    run_id: str = "",
    experiment: str = "rewinding",
) -> pd.DataFrame:
    """IMP with rewinding to theta_i for each i in `rewind_steps` (0 = theta_0, the paper).
    With `ticket` (a find_tickets run of the same recipe), its levels serve as i = 0."""
    rewind_steps = list(rewind_steps)
    run_dir, identity = resolve_run(
        run_dir, experiment, recipe, {"rewind_steps": rewind_steps}, {"ticket": ticket} if ticket else {}
    )
    describe_run(run_dir, identity, experiment, recipe, rewind_steps=rewind_steps, ticket=str(ticket or ""))
    rows = []
    for step in rewind_steps:
        reused = _reusable_levels(recipe, ticket) if step == 0 and ticket else None
        levels = reused if reused is not None else _imp_levels(recipe, run_dir / f"rewind_{step}", step)
        rows += imp_rows(levels, recipe, experiment, run_id or run_label(run_dir), step)
    return write_rows(run_dir, rows)


def _reusable_levels(recipe: Recipe, ticket) -> list[dict] | None:
    """The finished levels of `ticket` if it is an IMP run of exactly this recipe at theta_0."""
    from ticketlib.foundations.atomic import canonical

    folder = imp_folder(ticket)
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file() or canonical(recipe.imp_config(0)) != read_json(manifest)["config"]:
        return None
    levels = [read_level(ticket, k) for k in available_levels(ticket)]
    return levels if len(levels) == recipe.levels + 1 else None
