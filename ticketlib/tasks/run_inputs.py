"""A run's inputs from its Recipe: the task's tokenized data (with its model's tokenizer) and a
fresh model (theta_0 with a new seeded head), on the CPU threads the recipe asks for. Below the
experiments, so that export, overlap and the report build them without importing experiments.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from ticketlib.foundations.settings import threads as env_threads
from ticketlib.tasks.params import Recipe


def set_threads(recipe: Recipe) -> int:
    """torch CPU threads: recipe.threads, else $TICKETLIB_THREADS (set by the sweep), else torch's default."""
    import torch

    threads = recipe.threads or env_threads()
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


@dataclass
class Loaded:
    recipe: Recipe
    data: object  # ticketlib.tasks.data.TaskData
    tokenizer: object
    info: dict
    shown_warnings: set[str] = field(default_factory=set)  # model-loading warnings printed for this run


def load_data(recipe: Recipe) -> Loaded:
    """The task's tokenized train/eval features for the recipe (tokenizer of its model)."""
    from ticketlib.tasks.data import load_task_data
    from ticketlib.tasks.models import load_tokenizer

    set_threads(recipe)
    tokenizer = load_tokenizer(recipe.model)
    data = load_task_data(
        recipe.task,
        recipe.source,
        tokenizer,
        max_train_examples=recipe.max_train_examples,
        max_eval_examples=recipe.max_eval_examples,
        subset_seed=recipe.subset_seed,
        glue_dir=recipe.glue_dir,
        max_length=recipe.max_length,
    )
    return Loaded(recipe, data, tokenizer, data.info)


def fresh_model(recipe: Recipe, seed: int = 0, shown: set[str] | None = None):
    """theta_0 with a new head for the recipe's task (seeded). Loading warnings are printed,
    except those already in `shown` (a run's set, e.g. Loaded.shown_warnings; updated)."""
    from transformers.utils import logging as transformers_logging

    from ticketlib.tasks.models import load_model

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar stays at 0% in a notebook's output
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, _, info = load_model(
            recipe.model, recipe.task, num_layers=recipe.num_layers, seed=seed, pooling=recipe.pooling
        )
    shown = set() if shown is None else shown
    for warning in caught:  # once per message, without this machine's file paths
        if str(warning.message) not in shown:
            shown.add(str(warning.message))
            print(f"warning: {warning.message}")
    return model, info


def evaluator(loaded: Loaded):
    return lambda model: loaded.data.evaluate(model)
