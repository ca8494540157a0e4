"""The study's commands: `study` (the main job: a profile's sweep, then its report), `report`
(the page again from results.csv, training nothing) and `sweep run|list|params`; with the
`shard` commands (ticketlib.sweep.shards_cli), which take the same --shard option."""

from __future__ import annotations

import argparse
from pathlib import Path

from ticketlib.foundations.paths import RESULTS_CSV, refuse_parent_refs
from ticketlib.sweep.shards_cli import add_shard_commands
from ticketlib.tasks.params import suggest


def add_study_commands(commands) -> None:
    study = commands.add_parser(
        "study",
        help="run a profile's sweep (default: the quick offline study) and build its report",
        description="Run every unfinished run of a profile (params/<profile>.yaml), then write "
        "<reports>/results.csv and <reports>/index.html. Finished runs are skipped.",
    )
    study.add_argument("--profile", default="quick", help="a profile name under params/ or a YAML path")
    _add_sweep_options(study)
    study.set_defaults(run=_study)

    rebuilt = commands.add_parser(
        "report",
        help="rebuild a study's index.html from its results.csv (and runs.json), training nothing",
        description="Rebuild <reports>/index.html from <reports>/results.csv and <reports>/runs.json by the "
        "verdict rules the study declared (its profile's rules:, copied into runs.json).",
    )
    rebuilt.add_argument("--reports", default="reports", help="the study's reports folder (default: reports)")
    rebuilt.add_argument(
        "--no-measure",
        action="store_true",
        help="do not measure missing no-signal scores on the tasks' data (a committed study)",
    )
    rebuilt.set_defaults(run=_report)

    sweep = commands.add_parser(
        "sweep",
        help="a profile's sweep: run it, list its runs, print a run's parameters",
        description="Profiles are params/<name>.yaml (ticketlib.study.profiles); runs and "
        "their folders: ticketlib.sweep and ticketlib.study.identity.",
    )
    actions = sweep.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="run a profile's sweep and build its report (= ticketlib study)")
    run.add_argument("profile", help="a profile name under params/ or a YAML path")
    _add_sweep_options(run)
    run.set_defaults(run=_sweep_run)
    listing = actions.add_parser(
        "list", help="a profile's runs: done (done*: other notebook code), failed or todo, with their ids"
    )
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


def _study(args) -> None:
    if _sweep_run(args):
        raise RuntimeError("some runs failed or were skipped (see above); their executed notebooks are kept")


def _report(args) -> None:
    from ticketlib.study.report import build_report

    reports = Path(args.reports)
    if not (reports / RESULTS_CSV).is_file():
        raise FileNotFoundError(f"{reports / RESULTS_CSV} does not exist: run a study first (ticketlib study)")
    print(build_report(reports, measure_no_signal=not args.no_measure))


def _sweep_run(args) -> int:
    refuse_parent_refs(args.store, "--store")
    refuse_parent_refs(args.reports, "--reports")
    from ticketlib.sweep import main_sweep

    return main_sweep(
        args.profile,
        store=args.store,
        reports=args.reports,
        engine=args.engine,
        jobs=args.jobs,
        threads=args.threads,
        shard=_shard(args),
    )


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
        raise ProfileError(
            f"profile {args.profile!r} has no runs of experiment {args.experiment!r}."
            f"{suggest(args.experiment, names)} Experiments: {', '.join(names)}"
        )
    if not 0 <= args.index < len(runs):
        raise ValueError(f"--index {args.index}: experiment {args.experiment!r} has {len(runs)} runs")
    print(yaml.safe_dump(to_jsonable(runs[args.index].params), sort_keys=False), end="")


def _shard(args) -> dict:
    from ticketlib.sweep.shards import parse_shard

    return parse_shard(getattr(args, "shard", None))


def _add_shard_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shard",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="only this shard's runs, e.g. seed=0 or 'seed=[0, 1]' (and the runs they need; docs/shards.md)",
    )


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=["local", "submitit"],
        default=None,
        help="local processes (default) or submitit jobs (Slurm; see docs/cluster.md)",
    )
    parser.add_argument("--jobs", type=int, default=None, help="runs at a time (default: the profile's, else cores)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / jobs)")
    parser.add_argument("--store", default=None, help="run store (default: $TICKETLIB_RUNS or runs/)")
    parser.add_argument("--reports", default=None, help="report folder (default: reports/)")
    _add_shard_option(parser)
