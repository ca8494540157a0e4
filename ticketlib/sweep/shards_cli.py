"""`ticketlib shard export|import`: the command line of ticketlib.sweep.shards (docs/shards.md)."""

from __future__ import annotations

import sys
from pathlib import Path


def _shard(args) -> dict:
    from ticketlib.sweep.shards import parse_shard

    return parse_shard(getattr(args, "shard", None))


def _shard_export(args) -> None:
    from ticketlib.foundations.settings import store_root
    from ticketlib.study.profiles import load_profile
    from ticketlib.sweep import expand
    from ticketlib.sweep.shards import export_shard

    profile = load_profile(args.profile)
    store = Path(args.store or store_root()).resolve()
    manifest = export_shard(expand(profile, store), _shard(args), store, Path(args.out), args.masks, profile.name)
    whole = sum(e["whole"] for e in manifest["runs"])
    print(
        f"{args.out}: {len(manifest['runs'])} finished run(s), {whole} with their masks and cells"
        + (f"; not finished, left out: {', '.join(manifest['unfinished'])}" if manifest["unfinished"] else "")
    )


def _shard_import(args) -> None:
    from ticketlib.foundations.settings import store_root
    from ticketlib.sweep.shards import import_shard

    store = Path(args.store or store_root()).resolve()
    for archive in args.archives:
        done = import_shard(archive, store)
        for warning in done.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(
            f"{archive} -> {store}: {len(done.new)} new, {len(done.completed)} completed, "
            f"{len(done.present)} already there"
        )


def add_shard_commands(commands, add_shard_option) -> None:
    shard = commands.add_parser(
        "shard",
        help="export a shard's finished runs from a run store, import them into another (docs/shards.md)",
        description="Grow a study across machines: run a shard (ticketlib study --shard "
        "seed=0), export its finished runs, import every shard into one store, "
        "and run the study there: it finds every run by its id.",
    )
    actions = shard.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="a shard's finished runs to one .tar, .tar.gz or folder")
    export.add_argument("profile", help="a profile name under params/ or a YAML path")
    add_shard_option(export)
    export.add_argument("--out", required=True, help="the archive to write: NAME.tar, NAME.tar.gz or a folder")
    export.add_argument(
        "--masks",
        choices=["needed", "all", "none"],
        default="needed",
        help="which runs travel with their masks and cells: those a run of another shard or of the "
        "merge needs (default), all, or none",
    )
    export.add_argument("--store", default=None, help="run store (default: $TICKETLIB_RUNS or runs/)")
    export.set_defaults(run=_shard_export)
    imported = actions.add_parser("import", help="check exported shards and add their runs to a run store")
    imported.add_argument(
        "archives",
        nargs="+",
        metavar="ARCHIVE",
        help="shards written by 'ticketlib shard export' (.tar, .tar.gz or a folder)",
    )
    imported.add_argument("--store", default=None, help="run store (default: $TICKETLIB_RUNS or runs/)")
    imported.set_defaults(run=_shard_import)
