"""One subnetwork fine-tuned: the dense model, a mask on theta_0 (the IMP ticket, a transferred
mask), or a baseline built at the ticket's sparsity (the methods of ticketlib.foundations.methods:
random pruning, random re-init, OMP, Wanda, standard pruning). Each returns the trained result
(sparsity, steps, train_seconds, metrics) that the experiments store as a cell."""

from __future__ import annotations

import dataclasses
import time

from ticketlib.tasks.params import Recipe
from ticketlib.tasks.run_inputs import Loaded, evaluator, fresh_model

RANDOM_PRUNING_SEED_OFFSET = 104_729  # random pruning draws with the training seed + this (weights and units)


def train_mask(loaded: Loaded, mask: dict | None, seed: int, init: str = "pretrained") -> dict:
    """Fine-tune theta_0 (or random weights) under `mask` (None: dense) with a seeded head."""
    from ticketlib.core.imp import evaluate_ticket
    from ticketlib.core.masks import full_mask
    from ticketlib.core.prunable import prunable_parameters

    recipe = loaded.recipe
    spec = recipe.prune_config().spec()
    model, _ = fresh_model(recipe, seed=seed, shown=loaded.shown_warnings)
    if mask is None:
        mask = full_mask(prunable_parameters(model, spec))
    result = evaluate_ticket(
        model,
        mask,
        loaded.data.train_features,
        evaluator(loaded),
        recipe.train_config(seed),
        init=init,
        spec=spec,
        pad_token_id=loaded.data.pad_token_id,
    )
    return result


def train_method(loaded: Loaded, method: str, ticket_mask: dict, level: int, seed: int) -> dict:
    from ticketlib.core.imp import one_shot_magnitude_mask, random_mask, standard_pruning
    from ticketlib.core.masks import sparsity

    recipe = loaded.recipe
    spec = recipe.prune_config().spec()
    target = sparsity(ticket_mask)
    if method == "imp":
        return train_mask(loaded, ticket_mask, seed)
    if method == "random_reinit":
        return train_mask(loaded, ticket_mask, seed, init="random")
    model, _ = fresh_model(recipe, seed=seed, shown=loaded.shown_warnings)
    if method in ("random_pruning", "omp") and recipe.granularity != "weights":
        return train_mask(loaded, paired_units(model, method, ticket_mask, recipe, seed), seed)
    # granularity 'weights' from here on (the paper's path, as before): the options below are their defaults
    units = {
        "granularity": recipe.granularity,
        "allocation": recipe.structured_allocation,
        "head_ratio": recipe.structured_head_ratio,
    }
    if method == "random_pruning":
        return train_mask(
            loaded,
            random_mask(model, target, seed=seed + RANDOM_PRUNING_SEED_OFFSET, spec=spec, scope=recipe.scope, **units),
            seed,
        )
    if method == "omp":
        return train_mask(loaded, one_shot_magnitude_mask(model, target, spec=spec, scope=recipe.scope, **units), seed)
    if method == "wanda":  # calibration: the first batches of the training features, in order
        from ticketlib.core.wanda import calibration_batches, wanda_mask

        batches = calibration_batches(loaded.data.train_features, recipe.batch_size, loaded.data.pad_token_id)
        return train_mask(loaded, wanda_mask(model, batches, target, spec=spec), seed)
    if method == "standard_pruning":
        config = dataclasses.replace(
            recipe.imp_config(),
            train=recipe.train_config(seed),
            prune=dataclasses.replace(recipe.prune_config(), levels=level),
        )
        started = time.perf_counter()
        rows = standard_pruning(
            model, loaded.data.train_features, evaluator(loaded), config, pad_token_id=loaded.data.pad_token_id
        )
        last = rows[-1]
        return {
            "sparsity": last["sparsity"],
            "init": "pretrained",
            "steps": last["step"],
            "train_seconds": round(time.perf_counter() - started, 3),
            "metrics": last["metrics"],
        }
    raise ValueError(f"unknown method {method!r}")


def paired_units(model, method: str, ticket_mask: dict, recipe: Recipe, seed: int) -> dict:
    """A structured ticket's random-units or OMP baseline: exactly the ticket's heads and neurons per
    kind (per layer too with scope layerwise), never counts re-derived from its sparsity
    (ticketlib.core.unit_baselines); random units with the seed random pruning draws with."""
    from ticketlib.core.unit_baselines import paired_unit_mask

    spec = recipe.prune_config().spec()
    if method == "random_pruning":
        return paired_unit_mask(
            model, ticket_mask, recipe.granularity, spec, recipe.scope, "random", seed + RANDOM_PRUNING_SEED_OFFSET
        )
    return paired_unit_mask(model, ticket_mask, recipe.granularity, spec, recipe.scope, "magnitude")
