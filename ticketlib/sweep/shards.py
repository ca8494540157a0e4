"""Studies that outlive a machine: a study runs as shards, each shard's finished runs travel
from its run store to another in one archive, and the store that has them all is the study.

- A shard is a filter on a profile's runs, e.g. `seed=0`: the runs whose value of that key is
  that value (`seed`: a run's training seeds, its `seeds` parameter, else its `seed`), plus the
  runs they need (a `ticket`), which a fresh machine must make too ("borrowed": they are another
  shard's runs; importing that shard first makes them found, not rerun). Runs that need whole
  experiments (`after`: the summary and explore notebooks) belong to no shard: they run where the
  shards are merged.
- Export (`export_shard`): a shard's finished runs, each as the files of its run folder
  (rows.csv, run.json, params.json, status.json, its notebook), plus its subfolders (masks,
  training cells) when a run outside the shard needs it, or when asked. One `.tar`, `.tar.gz`
  or folder with `shard.json`: the runs, their paths in the store and each file's sha256.
- Import (`import_shard`): unpack into a staging folder inside the store, check every file
  against the manifest and every run's id against its identity, then move the runs into place.
  A corrupt or truncated archive is a one-line error and writes nothing; importing the same
  archive twice changes nothing; a run already in the store whose files differ is refused.
- Merge: import every shard into one store and run `ticketlib study` on it: every run is found
  by its id (ticketlib.study.identity), only the runs of no shard run, and the report is the study's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ticketlib import __version__
from ticketlib.foundations.atomic import atomic_path, read_json
from ticketlib.foundations.paths import PARAMS_FILE, STATUS_FILE, lock_path
from ticketlib.foundations.paths import SHARD_MANIFEST as MANIFEST
from ticketlib.study.identity import run_folder, run_id
from ticketlib.sweep.plan import Run
from ticketlib.sweep.status import is_finished

FORMAT = "ticketlib-shard/1"
RUNS = "runs"  # the archive's folder holding the run folders, laid out as in the store
MASKS = ("needed", "all", "none")


class ShardError(ValueError):
    """A shard that cannot be selected, exported or imported: one line saying why."""


# --- selecting a shard ----------------------------------------------------------------------


def parse_shard(items) -> dict:
    """["seed=0", "task=sst2"] -> {"seed": 0, "task": "sst2"}; values as YAML, so "seed=[0, 1]"
    names two seeds (one shard made of both)."""
    found = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ShardError(f"--shard {item!r}: expected KEY=VALUE, e.g. seed=0")
        if key in found:
            raise ShardError(f"--shard: {key} given twice; several values are one list, e.g. {key}=[0, 1]")
        found[key] = yaml.safe_load(value)
    return found


def _selected(run: Run, key: str, wanted) -> bool:
    values = _values(run, key)
    return len(values) == 1 and values[0] in (wanted if isinstance(wanted, list) else [wanted])


def _values(run: Run, key: str) -> list:
    if key == "seed":  # the seeds a run trains with: its `seeds`, else its own `seed`
        seeds = run.params.get("seeds")
        return list(seeds) if seeds else ([run.params["seed"]] if "seed" in run.params else [])
    if key == "experiment" and key not in run.params:  # the profile's experiment the run belongs to
        return [run.experiment]
    return [run.params[key]] if key in run.params else []


def _hard_needs(run: Run) -> list[Run]:
    return [d for d in run.needs.values() if not isinstance(d, list)]


def _gathers(run: Run) -> bool:
    """A run that needs whole experiments (`after`): the merge's, never a shard's."""
    return run.gathers


@dataclass
class Shard:
    filters: dict
    own: list[Run]  # the runs the filter selects
    borrowed: list[Run] = field(default_factory=list)  # runs of other shards the own runs need
    runs: list[Run] = field(default_factory=list)  # both, in the profile's (dependency) order

    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.filters.items()) or "all"


def select_shard(runs: list[Run], filters: dict) -> Shard:
    """The shard of `runs` (a profile's, in dependency order) that `filters` names; no filter:
    every run (the whole study, one shard)."""
    if not filters:
        return Shard({}, list(runs), [], list(runs))
    own = [r for r in runs if not _gathers(r) and all(_selected(r, k, v) for k, v in filters.items())]
    if not own:
        keys = sorted({k for r in runs for k in r.params} | {"seed"})
        raise ShardError(f"shard {Shard(filters, []).label()} selects no run (keys: {', '.join(keys)})")
    ids, borrowed, todo = {r.run_id for r in own}, {}, list(own)
    while todo:
        for need in _hard_needs(todo.pop()):
            if need.run_id not in ids and need.run_id not in borrowed:
                borrowed[need.run_id] = need
                todo.append(need)
    ids |= set(borrowed)
    return Shard(filters, own, [r for r in runs if r.run_id in borrowed], [r for r in runs if r.run_id in ids])


# --- export ---------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_files(folder: Path, whole: bool) -> list[str]:
    """The files of a run folder that travel: its own files, and with `whole` its subfolders too."""
    found = folder.rglob("*") if whole else folder.iterdir()
    return sorted(str(p.relative_to(folder)) for p in found if p.is_file() and not p.name.startswith("."))


def export_shard(
    runs: list[Run], filters: dict, store: Path, out: Path, masks: str = "needed", profile: str = ""
) -> dict:
    """Write the shard's finished runs to `out` (`.tar`, `.tar.gz`/`.tgz`, else a folder); returns
    the manifest. `masks`: "needed" (the subfolders of runs another shard or the merge needs),
    "all" or "none"."""
    if masks not in MASKS:
        raise ShardError(f"masks {masks!r}: expected one of {', '.join(MASKS)}")
    out, store = Path(out), Path(store).resolve()
    if out.exists():
        raise ShardError(f"{out} exists; export writes a new archive (remove it or choose another name)")
    shard = select_shard(runs, filters)
    own = {r.run_id for r in shard.own}
    needed = {d.run_id for r in runs if r.run_id not in own for d in r.waits}
    entries, left_out = [], []
    for run in shard.own:
        if not is_finished(run.folder):
            left_out.append(run.name)
            continue
        whole = masks == "all" or (masks == "needed" and run.run_id in needed)
        files = {name: _sha256(run.folder / name) for name in _run_files(run.folder, whole)}
        entries.append(
            {
                "run_id": run.run_id,
                "name": run.name,
                "path": run.folder.relative_to(store).as_posix(),
                "whole": whole,
                "files": files,
            }
        )
    if not entries:
        raise ShardError(f"shard {shard.label()}: no finished run in {store} to export")
    manifest = {
        "format": FORMAT,
        "profile": profile,
        "shard": filters,
        "ticketlib_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": socket.gethostname(),
        "runs": entries,
        "unfinished": left_out,
    }
    _write_archive(manifest, store, out)
    return manifest


def _write_archive(manifest: dict, store: Path, out: Path) -> None:
    text = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    members = [
        (f"{RUNS}/{e['path']}/{name}", store / e["path"] / name) for e in manifest["runs"] for name in e["files"]
    ]
    if out.name.endswith((".tar", ".tar.gz", ".tgz")):
        with atomic_path(out) as tmp:
            with tarfile.open(tmp, "w" if out.name.endswith(".tar") else "w:gz") as tar:
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime = len(text), int(time.time())
                tar.addfile(info, io.BytesIO(text))
                for name, path in members:
                    tar.add(path, arcname=name, recursive=False)
        return
    staging = Path(tempfile.mkdtemp(dir=out.parent if out.parent.exists() else None, prefix=f".{out.name}."))
    try:
        for name, path in members:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / name)
        (staging / MANIFEST).write_bytes(text)  # last: a folder with its manifest is complete
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- import ---------------------------------------------------------------------------------


def _safe(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


def _check_manifest(manifest: dict, where: str) -> dict[str, str]:
    """archive member -> sha256, from a manifest whose shape and paths are sound."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ShardError(f"{where}: not a ticketlib shard ({MANIFEST} format is not {FORMAT})")
    expected = {}
    for entry in manifest.get("runs") or []:
        if not _safe(entry["path"]) or not all(_safe(n) for n in entry["files"]):
            raise ShardError(f"{where}: unsafe path in {MANIFEST} ({entry['path']})")
        expected.update({f"{RUNS}/{entry['path']}/{n}": sha for n, sha in entry["files"].items()})
    return expected


def _unpack(archive: Path, staging: Path) -> dict:
    """The manifest; every file it lists written under `staging` and checked against its sha256."""
    if archive.is_dir():
        read_manifest = lambda: json.loads((archive / MANIFEST).read_text())  # noqa: E731
        opened = None
    else:
        opened = tarfile.open(archive, "r:*")
        member = opened.getmember(MANIFEST)
        read_manifest = lambda: json.loads(opened.extractfile(member).read())  # noqa: E731
    try:
        manifest = read_manifest()
        expected = _check_manifest(manifest, str(archive))
        seen = set()
        if opened is None:
            sources = ((name, open(archive / name, "rb")) for name in expected)
        else:
            sources = ((m.name, opened.extractfile(m)) for m in opened if m.name != MANIFEST)
        for name, handle in sources:
            if name not in expected or handle is None:
                raise ShardError(f"{archive}: {name} is not listed in {MANIFEST}")
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with handle, open(target, "wb") as sink:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                    sink.write(block)
            if digest.hexdigest() != expected[name]:
                raise ShardError(f"{archive}: {name} does not match its checksum (corrupt archive)")
            seen.add(name)
        missing = sorted(set(expected) - seen)
        if missing:
            raise ShardError(f"{archive}: {len(missing)} file(s) listed in {MANIFEST} are missing, e.g. {missing[0]}")
        return manifest
    finally:
        if opened is not None:
            opened.close()


def _check_run(entry: dict, staged: Path, store: Path) -> None:
    described = read_json(staged / PARAMS_FILE)
    identity = described.get("identity") or {}
    if described.get("run_id") != entry["run_id"] or run_id(identity) != entry["run_id"]:
        raise ShardError(f"{entry['name']}: its params.json does not give run id {entry['run_id']}")
    if run_folder(store, identity) != store / entry["path"]:
        raise ShardError(f"{entry['name']}: path {entry['path']} is not its identity's folder")
    if not is_finished(staged):
        raise ShardError(f"{entry['name']}: its status.json does not say ok")


@dataclass
class Imported:
    new: list[str] = field(default_factory=list)  # runs moved into the store
    completed: list[str] = field(default_factory=list)  # runs there already, given the files they lacked
    present: list[str] = field(default_factory=list)  # runs there already with every file: nothing to do
    warnings: list[str] = field(default_factory=list)


def import_shard(archive: str | os.PathLike, store: str | os.PathLike) -> Imported:
    """Check `archive` whole, then move its runs into `store` (see the module docstring)."""
    from filelock import FileLock

    archive, store = Path(archive), Path(store).resolve()
    if not archive.exists():
        raise ShardError(f"{archive} does not exist")
    store.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=store, prefix=".import-"))
    try:
        try:
            manifest = _unpack(archive, staging)
        except (tarfile.TarError, EOFError, OSError, KeyError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ShardError(f"{archive}: unreadable or truncated archive ({type(error).__name__}: {error})") from None
        done = Imported()
        moves = []
        for entry in manifest["runs"]:
            staged, final = staging / RUNS / entry["path"], store / entry["path"]
            _check_run(entry, staged, store)
            version = read_json(staged / PARAMS_FILE)["identity"].get("ticketlib_version")
            if version != __version__:
                done.warnings.append(
                    f"{entry['name']} was made with ticketlib {version}, this is {__version__}: "
                    "a study here will not find it (run ids include the version)"
                )
            differ = [n for n in entry["files"] if (final / n).is_file() and _sha256(final / n) != entry["files"][n]]
            if differ:
                raise ShardError(
                    f"{entry['name']}: run {entry['run_id']} is in {store} already with other content "
                    f"({differ[0]}); remove one of the two to choose"
                )
            lacking = [n for n in entry["files"] if not (final / n).is_file()]
            moves.append((entry, staged, final, lacking))
        for entry, staged, final, lacking in moves:  # every run checked: now write
            lock = FileLock(str(lock_path(final)))
            final.parent.mkdir(parents=True, exist_ok=True)
            with lock:
                if not final.exists():
                    os.replace(staged, final)
                    done.new.append(entry["name"])
                    continue
                for name in [n for n in lacking if n != STATUS_FILE] + [n for n in lacking if n == STATUS_FILE]:
                    (final / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged / name, final / name)  # status.json last: the run is finished once complete
                (done.completed if lacking else done.present).append(entry["name"])
        return done
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def describe_manifest(path: str | os.PathLike) -> dict:
    """The manifest of an exported shard (a folder or an archive), for `ticketlib shard show`."""
    path = Path(path)
    if path.is_dir():
        return read_json(path / MANIFEST)
    with tarfile.open(path, "r:*") as tar:
        return json.loads(tar.extractfile(tar.getmember(MANIFEST)).read())
