"""`ticketlib early-bird`: the command line of ticketlib.study.early_bird_compare. The two profiles are
expanded here (the sweep's plan, so the run folders are the ones a sweep made) and their
find_tickets runs paired by identity."""

from __future__ import annotations

from pathlib import Path

from ticketlib.foundations.paths import RUNS_JSON

EXPERIMENT = "find_tickets"


def given_store(given: str | Path) -> Path:
    """A run store, or a study's reports folder (its runs.json names the store it ran in)."""
    from ticketlib.foundations.atomic import read_json

    path = Path(given)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder (a run store, or a study's reports folder)")
    return Path(read_json(path / RUNS_JSON)["store"]) if (path / RUNS_JSON).is_file() else path


def planned_runs(profile: str, store: Path) -> list:
    """The profile's find_tickets runs, with their identities and folders in `store`."""
    from ticketlib.study.early_bird_compare import Planned
    from ticketlib.study.profiles import load_profile
    from ticketlib.sweep.plan import expand

    runs = [Planned(run.identity(), run.folder) for run in expand(load_profile(profile), store)]
    found = [run for run in runs if run.identity["experiment"] == EXPERIMENT]
    if not found:
        raise ValueError(f"profile {profile!r} has no {EXPERIMENT} runs")
    return found


def _early_bird(args) -> None:
    import pandas as pd

    from ticketlib.study.early_bird_compare import markdown, pair_runs, write_comparison
    from ticketlib.study.profiles import load_profile
    from ticketlib.study.rules import Rules

    store = given_store(args.store)
    against_store = given_store(args.against_store) if args.against_store else store
    pairs = pair_runs(planned_runs(args.profile, store), planned_runs(args.against, against_store))
    rules = Rules.from_mapping(load_profile(args.profile).rules)
    paths, unfinished = write_comparison(pairs, rules, args.out, args.target_ratio)
    for pair in unfinished:
        print(
            f"not finished, left out: {pair.task} seed {pair.seed} (early-bird {pair.early.folder}, "
            f"IMP {pair.imp.folder})"
        )
    print(markdown(pd.read_csv(paths["tasks"])) + "\n")
    print("written: " + ", ".join(str(p) for p in paths.values()))


def add_early_bird_command(commands) -> None:
    from ticketlib.study.early_bird_compare import TARGET_RATIO

    command = commands.add_parser(
        "early-bird",
        help="early-bird tickets against IMP: training steps, final accuracy, mask overlap",
        description="Pairs each find_tickets run of --profile (early_bird on) with the run of --against that has "
        "the same identity with early_bird off (same task, seed and recipe), and writes per task and "
        "per seed: total training steps of all levels and their ratio, the final tickets' metric "
        "paired by seed with the matching rule declared in --profile's rules: (its 1 - 2 alpha "
        "interval, Holm across the tasks), and the two final masks' Jaccard and normalised Hamming "
        "distance (ticketlib.study.early_bird_compare). Writes early_bird.csv, early_bird_seeds.csv and "
        "early_bird.md to --out.",
    )
    command.add_argument(
        "store",
        help="the run store of the early-bird runs, or a study's reports folder (its runs.json names the store)",
    )
    command.add_argument(
        "--profile", default="early-bird-192x8", help="the early-bird profile (default: early-bird-192x8)"
    )
    command.add_argument("--against", default="curve-192x8", help="the plain IMP profile (default: curve-192x8)")
    command.add_argument(
        "--against-store", default=None, help="the run store of --against's runs, if not the same store"
    )
    command.add_argument(
        "--target-ratio",
        type=float,
        default=TARGET_RATIO,
        help=f"the target: this many times fewer training steps than IMP, at a final ticket "
        f"that matches IMP's (default: {TARGET_RATIO:g})",
    )
    command.add_argument("--out", default="docs/early_bird", help="output folder (default: docs/early_bird)")
    command.set_defaults(run=_early_bird)
