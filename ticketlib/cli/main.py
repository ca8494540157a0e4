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
from ticketlib.cli.study import add_study_commands
from ticketlib.foundations.paths import IMP_DIR, LEVEL_GLOB, MASK_FILE, refuse_parent_refs
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


def _imp(args) -> None:
    refuse_parent_refs(args.run_dir, "--run-dir")
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
    print(
        f"{path}: fits {args.model} (sparsity {float(meta.get('sparsity', 'nan')):.4f}, "
        f"task {meta.get('task', '?')}, level {meta.get('level', '?')})"
    )


def _mask_path(given: str) -> Path:
    """check-mask's MASK: a mask file, or a folder holding one (a level folder, an exported ticket)."""
    path = Path(given)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (a mask file, or a level or ticket folder holding one)")
    if path.is_dir() and not (path / MASK_FILE).is_file():
        levels = sorted(p.parent.name for p in path.glob(f"{IMP_DIR}/{LEVEL_GLOB}/{MASK_FILE}"))
        if levels:
            raise ValueError(
                f"{path} is a run folder: pass one level's mask, e.g. {path / IMP_DIR / levels[-1]} "
                f"(levels: {', '.join(levels)})"
            )
        raise FileNotFoundError(f"{path} holds no {MASK_FILE} (pass a mask file, or a level or ticket folder)")
    return path / MASK_FILE if path.is_dir() else path


def _run_folder(given: str) -> None:
    """export's RUN must be a find_tickets run folder: say what was given instead."""
    path = Path(given)
    if not path.exists():
        raise FileNotFoundError(f"run folder {path} does not exist")
    if path.is_file():
        raise ValueError(
            f"{path} is a file; export takes the find_tickets run folder a ticket came from (the "
            f"folder holding imp/), so its recipe and the level's trained head come along"
        )


def _export(args) -> None:
    refuse_parent_refs(args.out, "--out")
    _run_folder(args.run_folder)
    from transformers.utils import logging

    from ticketlib.tickets.export import export, head_of, load_calls, outputs, push_to_hub

    logging.disable_progress_bar()
    out = export(args.run_folder, args.level, args.out, fine_tune=args.fine_tune)
    head = head_of(out)
    print(
        f"{out}: the ticket at level {args.level}, "
        + ("fine-tuned" if args.fine_tune else "theta_0 x mask (NOT fine-tuned)")
        + f"; head: {head}"
    )
    for name, call in load_calls(out).items():
        print(f"load {'the masked model' if name == '.' else 'the shrunk model'}: {call}")
        print(f"  then {outputs(out / name)}")
    if head.startswith("NO TRAINED HEAD"):
        print(f"warning: {head}", file=sys.stderr)
    if args.push_to_hub:
        print(f"pushed to {push_to_hub(out, args.push_to_hub)}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ticketlib",
        description="Lottery tickets in pre-trained BERT (bert-tickets): find "
        "tickets by IMP, check and export them, run a profile's study.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = commands.add_parser("fetch-assets", help="download and verify offline assets")
    fetch.add_argument("names", nargs="*", help="asset names (default: all)")
    fetch.set_defaults(run=_fetch_assets)

    imp = commands.add_parser(
        "imp",
        help="find tickets by IMP for one task",
        description="IMP for one task with the recipe's flags (ticketlib.tasks.params.Recipe; "
        "defaults: the offline recipe). Without --run-dir the run goes to its "
        "folder in the run store (ticketlib.study.identity), the same one a sweep "
        "with this recipe uses.",
    )
    add_recipe_flags(imp)
    imp.add_argument("--run-dir", default=None, help="run folder (default: the recipe's folder in the run store)")
    imp.set_defaults(run=_imp)

    check = commands.add_parser("check-mask", help="check that a mask file is intact and fits a model")
    check.add_argument(
        "mask",
        help="a mask file (mask.safetensors), or a folder holding one: a run's level "
        "folder (<run>/imp/level_01) or an exported ticket",
    )
    add_recipe_flags(check, ["model", "task", "num_layers", "include_pooler", "pooling"])
    check.set_defaults(run=_check_mask)

    export = commands.add_parser(
        "export",
        help="a run's ticket at a level as a checkpoint folder with a model card",
        description="Write the ticket of a find_tickets run at --level to --out: theta_0 with the mask applied "
        "(zeros exactly where the mask is 0; NOT fine-tuned unless --fine-tune) plus the level's "
        "trained head, as a transformers checkpoint ([CLS] pooling) or a sentence-transformers folder "
        "(mean pooling), mask.safetensors, a model card README.md, and for structured tickets the "
        "shrunk model in shrunk/. Prints the one call that loads each (see ticketlib.tickets.export).",
    )
    export.add_argument("run_folder", metavar="RUN", help="a find_tickets run folder")
    export.add_argument("--level", type=int, required=True, help="the IMP level of the ticket")
    export.add_argument("--out", required=True, help="the folder to write")
    export.add_argument(
        "--fine-tune",
        action="store_true",
        help="fine-tune the ticket with the run's recipe and seed first (minutes on a CPU)",
    )
    export.add_argument(
        "--push-to-hub",
        default=None,
        metavar="REPO_ID",
        help="then upload the folder to this hub repo (needs a network and a token)",
    )
    export.set_defaults(run=_export)

    add_study_commands(commands)
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
