"""Drivers: iterative magnitude pruning (IMP) and its baselines.

IMP (the paper): level 0 fine-tunes the dense model; each later level rewinds the base
model to theta_0 (the pre-trained weights; or theta_i, the weights after i fine-tuning
steps, for the rewinding ablation), applies the mask, fine-tunes, evaluates, and prunes the
trained weights to the next level's sparsity. With `early_bird` on (You et al. 2020), a level
below the last stops training once the next level's mask has settled (ticketlib.core.early_bird)
and only the final level trains its full budget. Every level is written to its own folder
(mask, sparsity report, trained head, metrics) and is complete once its `level.json` exists
(written last), so a killed run resumes at the first unfinished level and finishes with
the same masks, bit for bit.

Baselines: `evaluate_ticket` fine-tunes any mask from theta_0 or from random weights
(random pruning, random re-initialisation, one-shot magnitude pruning, transfer), and
`standard_pruning` prunes during one fine-tuning run without rewinding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import Callable, Literal, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ticketlib import __version__
from ticketlib.core.config import IMPConfig, PrunableSet, TrainConfig
from ticketlib.core.early_bird import MaskWatch
from ticketlib.core.mask_io import load_mask, save_mask
from ticketlib.core.masker import Masker
from ticketlib.core.masks import Mask, full_mask, sparsity, sparsity_report
from ticketlib.core.prunable import architecture_fingerprint, base_model, prunable_parameters
from ticketlib.core.rewind import (
    base_snapshot,
    head_parameters,
    head_snapshot,
    init_like_bert,
    load_snapshot,
    reinit_head,
    rewind,
)
from ticketlib.core.structured import level_target, prune
from ticketlib.core.train import fine_tune, gradient_totals
from ticketlib.core.units import unit_metadata
from ticketlib.foundations.atomic import atomic_path, canonical, read_json, write_json
from ticketlib.foundations.paths import (
    HEAD_FILE,
    LEVEL_FILE,
    MANIFEST_FILE,
    MASK_FILE,
    SPARSITY_FILE,
    THETA_I_FILE,
    level_dir,
)

Evaluate = Callable[[nn.Module], dict[str, float]]


def weights_checksum(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode() + tensors[key].contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def head_seed(seed: int, level: int) -> int:
    return seed * 1000 + level


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))


def _start_manifest(run_dir: Path, config: IMPConfig, model: nn.Module, theta0: dict, metadata: dict) -> dict:
    """Write the run's manifest, or check that a resumed run has the same parameters and model."""
    manifest = {
        "kind": "imp",
        "config": config,
        "metadata": metadata,
        "ticketlib_version": __version__,
        "architecture": architecture_fingerprint(model, config.prune.spec()),
        "theta0_checksum": weights_checksum(theta0),
    }
    manifest = canonical(manifest)
    path = run_dir / MANIFEST_FILE
    if path.exists():
        old = read_json(path)
        for key in ("config", "architecture", "theta0_checksum"):
            if old.get(key) != manifest[key]:
                raise ValueError(
                    f"{run_dir} holds an IMP run with a different {key}; "
                    "use another run directory (nothing was changed)"
                )
        return manifest
    write_json(path, manifest)
    return manifest


def trained_pruner(
    config: IMPConfig, train_features: Sequence[dict], pad_token_id: int = 0
) -> Callable[[nn.Module, float, Mask], Mask]:
    """How IMP and standard pruning prune trained weights: `draw(model, target, current)` with the
    config's granularity, scope, unit allocation and unit score; the Taylor score first sums
    |gradient| over a few training batches of the model as it is (train.gradient_totals)."""
    prune_config, spec = config.prune, config.prune.spec()

    def draw(model: nn.Module, target: float, current: Mask) -> Mask:
        gradients = None
        if prune_config.structured_score == "taylor":
            gradients = gradient_totals(
                model,
                train_features,
                config.train,
                prunable_parameters(model, spec),
                prune_config.structured_score_batches,
                pad_token_id,
            )
        return prune(
            model,
            target,
            prune_config.granularity,
            spec,
            current=current,
            scope=prune_config.scope,
            criterion=prune_config.structured_score,
            allocation=prune_config.structured_allocation,
            head_ratio=prune_config.structured_head_ratio,
            gradients=gradients,
        )

    return draw


def run_imp(
    model: nn.Module,
    train_features: Sequence[dict],
    evaluate: Evaluate | None,
    config: IMPConfig,
    run_dir: str | Path,
    metadata: dict | None = None,
    pad_token_id: int = 0,
) -> list[dict]:
    """Run (or resume) IMP; returns one row per level: level, sparsity, metrics, timings.

    `model` must hold theta_0 (the pre-trained weights) when called. `metadata` (task, model
    name, data subset, ...) goes into the manifest and every mask file.
    """
    run_dir = Path(run_dir)
    metadata = dict(metadata or {})
    spec, schedule = config.prune.spec(), config.prune.to_schedule()
    theta0 = base_snapshot(model)
    manifest = _start_manifest(run_dir, config, model, theta0, metadata)
    provenance = {
        "seed": config.train.seed,
        "rewind_step": config.rewind_step,
        "architecture": manifest["architecture"],
        "theta0_checksum": manifest["theta0_checksum"],
        **metadata,
    }
    steps_per_level = config.train.steps(len(train_features))
    levels, granularity = config.prune.levels, config.prune.granularity
    theta_i_path = run_dir / THETA_I_FILE
    reinit_head(model, head_seed(config.train.seed, 0))
    initial_head = head_snapshot(model)
    early_bird = config.early_bird_options if config.early_bird else None
    pruner = trained_pruner(config, train_features, pad_token_id)
    draw_every = (early_bird.every or math.ceil(len(train_features) / config.train.batch_size)) if early_bird else 0
    rows = []
    for level in range(levels + 1):
        here = level_dir(run_dir, level)
        if (here / LEVEL_FILE).exists():
            rows.append(read_json(here / LEVEL_FILE))
            continue
        mask = full_mask(prunable_parameters(model, spec)) if level == 0 else load_mask(here / MASK_FILE)[0]
        # Reset: base model to theta_0 or theta_i, head per policy, then the mask.
        theta = theta0
        if level > 0 and config.rewind_step > 0:
            if not theta_i_path.exists():
                raise FileNotFoundError(f"{theta_i_path} missing: level 0 must save theta_i")
            theta = load_file(str(theta_i_path))
        rewind(model, theta)
        if level == 0 or config.head_policy == "rewind":
            load_snapshot(head_parameters(model), initial_head)
        elif config.head_policy == "reinit":
            reinit_head(model, head_seed(config.train.seed, level))
        elif head_parameters(model):  # keep: the previous level's trained head (a sentence encoder has none)
            load_snapshot(head_parameters(model), load_file(str(level_dir(run_dir, level - 1) / HEAD_FILE)))
        masker = Masker(model, mask, spec)
        masker.apply()

        next_target = level_target(model, granularity, schedule.sparsity(level + 1), spec) if level < levels else 0.0

        def draw_next(m: nn.Module, mask=mask, next_target=next_target) -> Mask:
            return pruner(m, next_target, mask)

        # Early-bird: a level below the last draws the next mask every k steps and may stop early
        # (level 0 not before theta_i is saved); the final level trains its full budget.
        watch = (
            MaskWatch(draw_next, early_bird, draw_every, min_steps=config.rewind_step if level == 0 else 0)
            if early_bird and level < levels
            else None
        )

        def on_step(step: int, m: nn.Module, level=level, watch=watch) -> bool:
            if level == 0 and config.rewind_step and step == config.rewind_step:
                _save_tensors(theta_i_path, base_snapshot(m))
            return watch(step, m) if watch else False

        evaluated = early_bird is None or level == levels or early_bird.evaluate_levels
        result = fine_tune(
            model,
            train_features,
            config.train,
            masker=masker,
            evaluate=evaluate if evaluated else None,
            on_step=on_step if config.rewind_step or watch else None,
            horizon=(level * steps_per_level, (levels + 1) * steps_per_level),
            pad_token_id=pad_token_id,
        )
        if config.rewind_step > result.steps:
            raise ValueError(f"rewind_step {config.rewind_step} exceeds the {result.steps} steps of a level")
        assert masker.pruned_are_zero(), "pruned weights drifted from zero"
        report = sparsity_report(mask)
        write_json(here / SPARSITY_FILE, report)
        if level < levels:  # the next level's mask, from this level's trained weights (at a stop: the last draw)
            next_mask = draw_next(model)
            save_mask(
                level_dir(run_dir, level + 1) / MASK_FILE,
                next_mask,
                level=level + 1,
                **provenance,
                **unit_metadata(next_mask, model, granularity, spec),
            )
        head = head_snapshot(model)
        if head:  # every policy: an export ships it with the mask (a sentence encoder has none)
            _save_tensors(here / HEAD_FILE, head)
        if level == 0:
            save_mask(here / MASK_FILE, mask, level=0, **provenance)
        row = {
            "level": level,
            "sparsity": sparsity(mask),
            "target_sparsity": level_target(model, granularity, schedule.sparsity(level), spec),
            "steps": result.steps,
            "train_seconds": round(result.seconds, 3),
            "final_loss": result.losses[-1] if result.losses else None,
            "fully_pruned_matrices": [r["name"] for r in report if r["scope"] == "matrix" and r["fully_pruned"]],
            "metrics": result.metrics,
        }
        if early_bird:  # the cost: steps trained against the full budget, and why the level stopped
            row.update(
                budget_steps=steps_per_level,
                stopped_early=bool(watch and watch.stopped),
                mask_distances=watch.distances if watch else [],
            )
        write_json(here / LEVEL_FILE, row)  # last: marks the level complete
        rows.append(row)
    return rows


def imp_mask(run_dir: str | Path, level: int) -> tuple[Mask, dict]:
    """The ticket of an IMP run at `level` (its mask file and metadata)."""
    return load_mask(level_dir(Path(run_dir), level) / MASK_FILE)


def random_init_base(model: nn.Module, seed: int) -> None:
    """Randomly re-initialise every base-model weight with BERT's initialisation (seeded):
    the 'random re-initialisation' baseline keeps the mask and discards theta_0."""
    base = base_model(model)
    init_like_bert(base, dict(base.named_parameters()), seed)


def one_shot_magnitude_mask(
    model: nn.Module,
    target: float,
    spec: PrunableSet = PrunableSet(),
    scope: str = "global",
    granularity: str = "weights",
    allocation: str = "joint",
    head_ratio: float = 1.0,
) -> Mask:
    """OMP: prune theta_0 itself by magnitude, in one shot (weights, or whole units to `target` split by
    `allocation`; OMP paired with a structured ticket takes its counts: unit_baselines.paired_unit_mask)."""
    return prune(model, target, granularity, spec, scope=scope, allocation=allocation, head_ratio=head_ratio)


def random_mask(
    model: nn.Module,
    target: float,
    seed: int,
    spec: PrunableSet = PrunableSet(),
    scope: str = "global",
    granularity: str = "weights",
    allocation: str = "joint",
    head_ratio: float = 1.0,
) -> Mask:
    """Random pruning baseline: same counts as the ticket, positions drawn at random (seeded); whole units
    to `target` split by `allocation` (random units paired with a structured ticket take its counts:
    unit_baselines.paired_unit_mask)."""
    return prune(
        model,
        target,
        granularity,
        spec,
        scope=scope,
        criterion="random",
        seed=seed,
        allocation=allocation,
        head_ratio=head_ratio,
    )


def evaluate_ticket(
    model: nn.Module,
    mask: Mask,
    train_features: Sequence[dict],
    evaluate: Evaluate | None,
    train: TrainConfig,
    init: Literal["pretrained", "random"] = "pretrained",
    spec: PrunableSet = PrunableSet(),
    pad_token_id: int = 0,
) -> dict:
    """Fine-tune a subnetwork with the standard recipe: mask on theta_0 (or on random weights),
    fresh seeded head. `model` must hold theta_0 and is trained in place."""
    if init == "random":
        random_init_base(model, seed=train.seed + 7919)
    elif init != "pretrained":
        raise ValueError(f"init must be 'pretrained' or 'random', got {init!r}")
    reinit_head(model, head_seed(train.seed, 0))
    masker = Masker(model, mask, spec)
    result = fine_tune(model, train_features, train, masker=masker, evaluate=evaluate, pad_token_id=pad_token_id)
    return {
        "sparsity": sparsity(mask),
        "init": init,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 3),
        "metrics": result.metrics,
    }


def standard_pruning(
    model: nn.Module,
    train_features: Sequence[dict],
    evaluate: Evaluate | None,
    config: IMPConfig,
    run_dir: str | Path | None = None,
    pad_token_id: int = 0,
) -> list[dict]:
    """Prune during one fine-tuning run, no rewinding: the run is cut into levels + 1 equal
    segments; after segment k the trained weights are evaluated and pruned to level k + 1's
    sparsity, and training continues (one learning-rate schedule over the whole run).
    Rows (and, with run_dir, masks) are per segment. Not resumable mid-run."""
    spec, schedule, levels = config.prune.spec(), config.prune.to_schedule(), config.prune.levels
    segment = config.train.steps(len(train_features))
    train = dataclasses.replace(config.train, max_steps=segment * (levels + 1))
    reinit_head(model, head_seed(train.seed, 0))
    masker = Masker(model, full_mask(prunable_parameters(model, spec)), spec)
    pruner = trained_pruner(config, train_features, pad_token_id)
    rows: list[dict] = []

    def prune_at_save_point(step: int, m: nn.Module) -> None:
        level = step // segment - 1
        if step % segment or level > levels:
            return
        row = {
            "level": level,
            "step": step,
            "sparsity": sparsity(masker.mask),
            "target_sparsity": schedule.sparsity(level),
            "metrics": evaluate(m) if evaluate else {},
        }
        m.train()
        if run_dir is not None:
            save_mask(
                level_dir(Path(run_dir), level) / MASK_FILE,
                masker.mask,
                level=level,
                kind="standard_pruning",
                seed=train.seed,
            )
            write_json(level_dir(Path(run_dir), level) / LEVEL_FILE, row)
        rows.append(row)
        if level < levels:
            granularity = config.prune.granularity
            masker.set_mask(pruner(m, level_target(m, granularity, schedule.sparsity(level + 1), spec), masker.mask))

    fine_tune(model, train_features, train, masker=masker, on_step=prune_at_save_point, pad_token_id=pad_token_id)
    return rows
