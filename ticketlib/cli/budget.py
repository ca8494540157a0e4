"""`ticketlib budget` and `ticketlib curve`: the command lines of ticketlib.study.budget and ticketlib.study.curve."""

from __future__ import annotations

from pathlib import Path

from ticketlib.foundations.paths import RESULTS_CSV, RUNS_JSON


def _budget(args) -> None:
    import json

    from ticketlib.study.budget import Budget, markdown, profile_recipe, read_rows, run_probe, tidy

    if args.table:
        print(markdown(tidy(read_rows(args.table))))
        return
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE, e.g. pooling=mean")
        try:
            overrides[name] = json.loads(value)
        except json.JSONDecodeError:
            overrides[name] = value
    recipe = profile_recipe(args.profile, args.task, overrides)
    texts = args.budgets or [f"{recipe.max_steps}x{recipe.batch_size}"]
    budgets = [Budget.parse(t, lr) for t in texts for lr in (args.learning_rates or [recipe.learning_rate])]
    out = Path(args.out or f"docs/measurements/budget_{args.task}.jsonl")
    table = run_probe(recipe, budgets, args.seeds, out, epoch_data=not args.profile_data, sparsity=args.sparsity)
    print(markdown(table))
    print(f"rows: {out} and {out.with_suffix('.csv')}")


def add_budget_command(commands) -> None:
    budget = commands.add_parser(
        "budget",
        help="what a fine-tuning budget buys: dense dev score, weight movement, mask overlap, time",
        description="For a task and a grid of budgets (steps x batch size, learning rates) and seeds: one dense "
        "fine-tuning each (the baselines' full model) with the profile's recipe, and its dev score, "
        "relative weight movement over the prunable set, the Jaccard overlap of its global magnitude "
        "mask with theta_0's, and its wall time (ticketlib.study.budget). Rows are appended to --out "
        "(JSONL; cells already there are skipped) and written as CSV beside it.",
    )
    budget.add_argument("--profile", default="cpu", help="the profile whose recipe is used (default: cpu)")
    budget.add_argument("--task", default="rt-sentiment")
    budget.add_argument(
        "--budgets",
        nargs="+",
        default=None,
        metavar="STEPSxBATCH",
        help="e.g. 48x32 192x8 800x8; 0xB: theta_0 untrained (default: the profile's budget)",
    )
    budget.add_argument(
        "--learning-rates",
        nargs="+",
        type=float,
        default=None,
        metavar="LR",
        help="each budget at each of these (default: the profile's)",
    )
    budget.add_argument("--seeds", nargs="+", type=int, default=[0])
    budget.add_argument(
        "--sparsity",
        type=float,
        default=0.5,
        help="sparsity of the magnitude masks compared (default: 0.5, the paper's 50%%)",
    )
    budget.add_argument(
        "--profile-data",
        action="store_true",
        help="keep the profile's training subset (default: one epoch of steps x batch examples)",
    )
    budget.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="override recipe fields, e.g. pooling=cls max_length=128 (JSON values)",
    )
    budget.add_argument("--out", default=None, help="JSONL file (default: docs/measurements/budget_<task>.jsonl)")
    budget.add_argument("--table", metavar="FILE", help="print the markdown table of a JSONL file and exit")
    budget.set_defaults(run=_budget)


def _curve(args) -> None:
    import pandas as pd

    from ticketlib.study.curve import markdown, write_curve

    for reports in args.reports:
        if not (Path(reports) / RESULTS_CSV).is_file() or not (Path(reports) / RUNS_JSON).is_file():
            raise FileNotFoundError(
                f"{reports}: no {RESULTS_CSV} and {RUNS_JSON}: not a study's reports folder "
                f"(ticketlib study --profile curve... --reports {reports})"
            )
    paths = write_curve(args.reports, args.out)
    for name in ("highest", "curve"):
        print(markdown(pd.read_csv(paths[name])) + "\n")
    print("written: " + ", ".join(str(p) for p in paths.values()))


def add_curve_command(commands) -> None:
    curve = commands.add_parser(
        "curve",
        help="the budget curve: claim 1 against the fine-tuning budget, over several studies",
        description="Each reports folder is one study at one budget (params/curve*.yaml). Per task and IMP level: "
        "IMP - full and IMP - OMP paired by seed, with the declared equivalence verdict; per budget "
        "and task: the highest matching sparsity by that rule and by the paper's two criteria "
        "(ticketlib.study.curve). Writes curve.csv, highest.csv and curve.png/.svg to --out.",
    )
    curve.add_argument("reports", nargs="+", help="the studies' reports folders, one per budget")
    curve.add_argument("--out", default="docs/budget_curve", help="output folder (default: docs/budget_curve)")
    curve.set_defaults(run=_curve)
