"""Sweeps: a profile's grid expanded into notebook runs, run once each, in dependency order.

- Identity: a run's id hashes its resolved parameters (dependencies by *their* ids), its
  notebook's code cells (not outputs, metadata or markdown: a cosmetic save re-runs nothing)
  and the ticketlib version. Its folder is `<store>/<experiment>/<label>-<id>`.
- Skip: a folder with `status.json` saying "ok" is finished and never redone.
- Dependencies: a run that needs another's output (a ticket for the baselines or a transfer)
  starts once that run is done; if it failed, the dependent is skipped and says why.
- Atomic outputs: a run executes in `<folder>.partial/` (IMP resumes there after a kill)
  and is renamed to `<folder>` when it succeeds. A failed run keeps `<folder>.partial/` with
  its executed notebook (the error inside), its HTML and status.json; the others go on.
- Engines (one option, one code path): "local" runs runs in parallel processes on this
  machine; "submitit" submits each run as a job through submitit (Slurm on a cluster, its
  local executor in the tests). The scheduling loop here is the same for both.
- Results: every finished run's tidy rows (`rows.csv`) are appended to one table,
  `<reports>/results.csv`, and `<reports>/runs.json` lists every run with its status.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import shutil
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .params import Profile, ProfileError, load_profile, suggest, unknown_key_error
from .results import concat_rows, write_table
from . import settings
from .settings import repo_root, set_threads_env, store_root
from .store import atomic_path, params_hash, read_json, to_jsonable, write_json

SWEEP_PARAMS = ("run_dir", "run_id")  # set by the sweep for every run, never by a profile
INJECTED_TAG = "injected-parameters"


# --- notebooks ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _read_notebook(path: str, mtime: float) -> dict:
    return json.loads(Path(path).read_text())


def read_notebook(path: Path) -> dict:
    return _read_notebook(str(path), path.stat().st_mtime)


def code_hash(path: Path) -> str:
    """Hash of the notebook's code cells (sources only, papermill's injected cell excluded)."""
    digest = hashlib.sha256()
    for cell in read_notebook(path)["cells"]:
        if cell["cell_type"] == "code" and INJECTED_TAG not in cell.get("metadata", {}).get("tags", []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            digest.update(source.encode() + b"\0")
    return digest.hexdigest()[:16]


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The names and defaults of the notebook's `parameters` cell (papermill's own reading)."""
    from papermill import inspect_notebook

    found = inspect_notebook(str(path))
    if not found:
        raise ProfileError(f"{path}: no cell tagged 'parameters'")
    import ast

    defaults = {}
    for name, spec in found.items():
        try:
            defaults[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            defaults[name] = spec["default"]
    return defaults


# --- expansion ------------------------------------------------------------------------------

@dataclass
class Run:
    experiment: str
    notebook: Path
    label: str
    params: dict  # resolved, dependency parameters excluded
    needs: dict = field(default_factory=dict)  # param -> run (one) or list of runs (after)
    waits: list = field(default_factory=list)  # runs that must finish first
    slug: str = ""
    run_id: str = ""
    folder: Path = Path()

    @property
    def name(self) -> str:
        return f"{self.experiment}[{self.label}]" if self.label else self.experiment

    def identity(self) -> dict:
        deps = {p: ([r.run_id for r in d] if isinstance(d, list) else d.run_id) for p, d in self.needs.items()}
        return {"experiment": self.experiment, "params": self.params, "needs": deps,
                "code": code_hash(self.notebook), "ticketlib_version": __version__}

    def dependency_params(self) -> dict:
        return {p: ([str(r.folder) for r in d] if isinstance(d, list) else str(d.folder))
                for p, d in self.needs.items()}


def _label(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _slug(point: dict) -> str:
    """A file-name-safe prefix for the run folder: the grid values."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(str(v) for v in point.values()))[:60]


def expand(profile: Profile, store: Path, root: Path | None = None) -> list[Run]:
    """Every run of the profile, dependencies first, with ids and folders resolved."""
    from .params import Recipe

    root = root or repo_root()
    where = str(profile.path)
    notebooks_dir = profile.notebooks if profile.notebooks.is_absolute() else root / profile.notebooks
    experiments = {n: s for n, s in profile.experiments.items() if s.get("enabled", True)}
    known: dict[str, dict] = {}
    for name, spec in experiments.items():
        path = notebooks_dir / spec["notebook"]
        if not path.is_file():
            raise ProfileError(f"{where}: experiments.{name}.notebook: {path} not found")
        known[name] = notebook_parameters(path)
    every = set().union(*known.values()) if known else set()
    for section, mapping in [("defaults", profile.defaults)] + [
            (f"task_params.{t}", p) for t, p in profile.task_params.items()]:
        for key in mapping:
            if key not in every or key in SWEEP_PARAMS:
                raise unknown_key_error(f"{where}: {section}", key, every - set(SWEEP_PARAMS))

    runs: dict[str, list[Run]] = {}
    for name in _order(experiments, where):
        spec, names = experiments[name], known[name]
        fixed, grid = dict(spec.get("params") or {}), dict(spec.get("grid") or {})
        for key in list(fixed) + list(grid):
            if key not in names or key in SWEEP_PARAMS:
                raise unknown_key_error(f"{where}: experiments.{name}", key, set(names) - set(SWEEP_PARAMS))
        needs = spec.get("needs") or {}
        for key in needs:
            if key not in names:
                raise unknown_key_error(f"{where}: experiments.{name}.needs", key, names)
        runs[name] = []
        for values in itertools.product(*grid.values()) if grid else [()]:
            point = dict(zip(grid, values))
            task = {**profile.defaults, **fixed, **point}.get("task", names.get("task"))
            params = {k: v for k, v in names.items() if k not in SWEEP_PARAMS and k not in needs}
            params.update({k: v for k, v in profile.defaults.items() if k in names})
            params.update({k: v for k, v in profile.task_params.get(task, {}).items() if k in names})
            params.update(fixed)
            params.update(point)
            try:  # a notebook that builds a Recipe: check values before anything runs
                if {"task", "model"} <= set(names):
                    Recipe(**{k: v for k, v in params.items() if _is_recipe(k)})
            except (ValueError, KeyError) as error:
                raise ProfileError(f"{where}: experiments.{name} {_label(point)}: {error}") from None
            run = Run(name, notebooks_dir / spec["notebook"], _label(point), params, slug=_slug(point))
            for param, need in needs.items():
                run.needs[param] = _find_needed(run, param, need, runs, where)
            run.waits = [d for v in run.needs.values() for d in (v if isinstance(v, list) else [v])]
            if "source_params" in names and "ticket" in run.needs and "source_params" not in fixed:
                source = run.needs["ticket"].params
                run.params["source_params"] = {k: v for k, v in source.items()
                                               if _is_recipe(k) and k != "task" and v != run.params.get(k)}
            run.run_id = params_hash(run.identity())
            run.folder = store / name / (f"{run.slug}-{run.run_id}" if run.slug else run.run_id)
            runs[name].append(run)
    return [r for name in runs for r in runs[name]]


def _is_recipe(key: str) -> bool:
    from .params import Recipe

    return key in Recipe.names()


def _order(experiments: dict, where: str) -> list[str]:
    """Experiments sorted so that every experiment comes after those it needs."""
    done: list[str] = []

    def visit(name, path=()):
        if name in done:
            return
        if name in path:
            raise ProfileError(f"{where}: experiments form a cycle through {name!r}")
        for need in (experiments[name].get("needs") or {}).values():
            for target in [need["experiment"]] if "experiment" in need else need.get("after", []):
                if target not in experiments:
                    raise ProfileError(f"{where}: experiments.{name} needs {target!r}, which is disabled or "
                                       f"unknown.{suggest(target, experiments)}")
                visit(target, path + (name,))
        done.append(name)

    for name in experiments:
        visit(name)
    return done


def _find_needed(run: Run, param: str, need: dict, runs: dict, where: str):
    if "after" in need:
        return [r for target in need["after"] for r in runs[target]]
    match = need.get("match") or {}
    candidates = [r for r in runs[need["experiment"]]
                  if all(r.params.get(theirs) == run.params.get(mine) for theirs, mine in match.items())]
    wanted = ", ".join(f"{theirs}={run.params.get(mine)!r}" for theirs, mine in match.items())
    if len(candidates) != 1:
        problem = "no run" if not candidates else f"{len(candidates)} runs (add keys to 'match')"
        raise ProfileError(f"{where}: {run.name} needs {param} from experiment {need['experiment']!r} with "
                           f"{wanted or 'any parameters'}, and the profile has {problem}")
    return candidates[0]


# --- executing one run ----------------------------------------------------------------------

def is_finished(folder: Path) -> bool:
    status = folder / "status.json"
    return status.is_file() and read_json(status).get("status") == "ok"


def stored_status(folder: Path) -> dict:
    """The status of a run found finished in the store (by this sweep before, or another)."""
    return {**read_json(folder / "status.json"), "skipped": True}


def run_spec(run: Run, threads: int | None, html: bool = True) -> dict:
    """Everything a worker needs, as plain JSON-able data."""
    return to_jsonable({"run_id": run.run_id, "experiment": run.experiment, "name": run.name,
                        "notebook": str(run.notebook), "params": {**run.params, **run.dependency_params()},
                        "identity": run.identity(), "folder": str(run.folder), "threads": threads, "html": html})


def execute_run(spec: dict) -> dict:
    """Execute one run's notebook with papermill (in a worker process or a cluster job).
    Never raises for a failing notebook: returns (and writes) its status.

    The run's lock (a hidden file beside its folder, never deleted: deleting a lock file lets a
    second process lock a new file while the first still holds the old one) is held from the
    check "is it finished?" to the rename into place, so two sweeps on one store never both
    execute a run: the second either finds the lock held or, once it gets it, the run finished."""
    from filelock import FileLock, Timeout

    final = Path(spec["folder"])
    work = final.with_name(final.name + ".partial")
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(final.with_name(f".{final.name}.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return {"run_id": spec["run_id"], "experiment": spec["experiment"], "name": spec["name"],
                "params": spec["params"], "status": "failed",
                "error": f"already running elsewhere ({lock.lock_file} is held)"}
    try:
        if is_finished(final):  # another sweep finished it between our check and our lock
            return stored_status(final)
        work.mkdir(exist_ok=True)
        status = _execute(spec, work)
        if status["status"] == "ok":
            if final.exists():
                shutil.rmtree(final)
            os.replace(work, final)
        return status
    finally:
        lock.release()


def _execute(spec: dict, work: Path) -> dict:
    import papermill

    write_json(work / "params.json", {"params": spec["params"], "identity": spec["identity"]})
    if spec.get("threads"):
        set_threads_env(spec["threads"])
    os.environ.setdefault("TQDM_DISABLE", "1")
    started = time.time()
    status = {"run_id": spec["run_id"], "experiment": spec["experiment"], "name": spec["name"],
              "params": spec["params"], "started": started, "host": os.uname().nodename}
    output = work / "notebook.ipynb"
    try:
        papermill.execute_notebook(spec["notebook"], str(output),
                                   parameters={**spec["params"], "run_dir": str(work), "run_id": spec["run_id"]},
                                   cwd=str(work), progress_bar=False, log_output=False, kernel_name="python3")
        status.update(status="ok", error=None)
    except Exception as error:  # the notebook failed (its error is in the executed notebook) or could not start
        kind = type(error).__name__
        status.update(status="failed", error=f"{kind}: {_short(error)}", traceback=traceback.format_exc()[-4000:])
    status.update(finished=time.time(), duration_s=round(time.time() - started, 2))
    if spec.get("html", True) and output.is_file():
        try:
            notebook_to_html(output, work / "notebook.html")
        except Exception as error:  # a report problem must not lose the run
            status["html_error"] = f"{type(error).__name__}: {error}"
    write_json(work / "status.json", status)
    return status


def _short(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    text = " | ".join(lines[-3:]) if lines else repr(error)
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[:600]


def notebook_to_html(notebook: Path, html: Path, hide_input: bool = True) -> None:
    """Executed notebook -> self-contained HTML (inputs hidden by default; no CDN needed)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=hide_input, exclude_input_prompt=hide_input,
                            exclude_output_prompt=hide_input, embed_images=True)
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    body = strip_remote_scripts(body)
    with atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")


def strip_remote_scripts(html: str) -> str:
    """Drop <script src="http..."> and remote stylesheets (require.js, MathJax from CDNs):
    the page's own inlined CSS renders it, offline."""
    html = re.sub(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", "", html)
    return re.sub(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", "", html)


# --- engines --------------------------------------------------------------------------------

_executing = threading.Lock()  # held by a pool worker while it executes a run
_driver_pid = None


def _watch_driver(driver_pid: int) -> None:
    """Pool-worker initializer: once the driver is gone (killed), finish the run in progress,
    which publishes itself, and exit, instead of idling forever on the task queue."""
    global _driver_pid
    _driver_pid = driver_pid

    def watch():
        while os.getppid() == driver_pid:
            time.sleep(1.0)
        with _executing:
            os._exit(0)
    threading.Thread(target=watch, daemon=True, name="watch-driver").start()


def _execute_in_pool(spec: dict) -> dict:
    with _executing:
        if os.getppid() != _driver_pid:  # a queued run, taken after the driver died: leave it
            os._exit(0)
        return execute_run(spec)


class LocalEngine:
    """Parallel processes on this machine."""

    name = "local"

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                           initializer=_watch_driver, initargs=(os.getpid(),))

    def submit(self, spec: dict):
        return self.pool.submit(_execute_in_pool, spec)

    def close(self):
        self.pool.shutdown(wait=True)


class SubmititEngine:
    """One submitit job per run: Slurm on a cluster, `cluster: local` for tests and debugging."""

    name = "submitit"

    def __init__(self, folder: Path, jobs: int, cluster: dict):
        import submitit

        options = dict(cluster)
        kind = options.pop("cluster", None)  # None: Slurm when available, else local
        self.jobs = jobs
        self.executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=kind)
        options.setdefault("timeout_min", 24 * 60)
        self.executor.update_parameters(**options)

    def submit(self, spec: dict):
        return self.executor.submit(execute_run, spec)

    def close(self):
        pass


def make_engine(kind: str, jobs: int, store: Path, cluster: dict):
    if kind == "local":
        return LocalEngine(jobs)
    if kind == "submitit":
        return SubmititEngine(store / ".submitit", jobs, cluster)
    raise ValueError(f"unknown engine {kind!r}; expected 'local' or 'submitit'")


# --- the sweep ------------------------------------------------------------------------------

def _log(message: str) -> None:
    print(f"[sweep {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_sweep(profile: str | Path | Profile, store: Path | None = None, reports: Path | None = None,
              engine: str | None = None, jobs: int | None = None, threads: int | None = None,
              cluster: dict | None = None, html: bool = True, root: Path | None = None) -> list[dict]:
    """Run every unfinished run of `profile`; returns one status per run (see module docstring)."""
    profile = profile if isinstance(profile, Profile) else load_profile(profile, root)
    store = Path(store or store_root()).resolve()
    reports = Path(reports or (root or repo_root()) / "reports").resolve()
    runs = expand(profile, store, root)
    engine = engine or profile.engine
    cluster = {**profile.cluster, **(cluster or {})}
    cores = os.cpu_count() or 1
    jobs = jobs or profile.jobs or (cores if engine == "local" else 64)
    threads = threads or (max(1, cores // jobs) if engine == "local" else cluster.get("cpus_per_task"))
    statuses: dict[str, dict] = {}
    for run in runs:
        if is_finished(run.folder):
            statuses[run.run_id] = stored_status(run.folder)
    todo = [r for r in runs if r.run_id not in statuses]
    _log(f"profile {profile.name}: {len(runs)} runs, {len(runs) - len(todo)} already done, {len(todo)} to run "
         f"({engine} engine, {jobs} at a time, store {store})")
    if todo:
        _drive(todo, statuses, make_engine(engine, jobs, store, cluster), jobs, threads, html, runs, reports, store,
               profile)
    write_tables(runs, statuses, reports, profile, store)
    return [statuses[r.run_id] for r in runs]


def _drive(todo, statuses, engine, jobs, threads, html, runs, reports, store, profile) -> None:
    running: dict[str, tuple[Run, Any]] = {}
    pending = list(todo)
    try:
        while pending or running:
            for run in list(pending):
                if len(running) >= jobs:
                    break
                waits = [statuses.get(d.run_id) for d in run.waits]
                if any(w is None for w in waits):
                    continue
                pending.remove(run)
                failed = [d.name for d, w in zip(run.waits, waits) if w["status"] != "ok"]
                hard = [d for d in run.needs.values() if not isinstance(d, list)]
                if any(statuses[d.run_id]["status"] != "ok" for d in hard):
                    statuses[run.run_id] = {"run_id": run.run_id, "experiment": run.experiment, "name": run.name,
                                            "params": run.params, "status": "skipped",
                                            "error": f"needs {', '.join(failed)}, which did not finish"}
                    _log(f"SKIPPED {run.name}: {statuses[run.run_id]['error']}")
                    continue
                _log(f"start {run.name} ({run.run_id})")
                running[run.run_id] = (run, engine.submit(run_spec(run, threads, html)))
            time.sleep(0.2)
            for run_id, (run, future) in list(running.items()):
                if not future.done():
                    continue
                del running[run_id]
                try:
                    status = future.result()
                except Exception as error:  # the worker itself died (killed, out of memory, job lost)
                    status = {"run_id": run.run_id, "experiment": run.experiment, "name": run.name,
                              "params": run.params, "status": "failed", "error": f"worker: {type(error).__name__}: "
                              f"{_short(error)}"}
                statuses[run_id] = status
                if status["status"] == "ok":
                    _log(f"done {run.name} in {status['duration_s']:.1f} s"
                         + (" (by another sweep on this store)" if status.get("skipped") else ""))
                else:
                    _log(f"FAILED {run.name}: {status['error']} (notebook kept in {run.folder}.partial)")
                write_tables(runs, statuses, reports, profile, store)
    finally:
        engine.close()


def run_folder(run: Run, status: dict | None) -> Path:
    return run.folder if status and status.get("status") == "ok" else run.folder.with_name(run.folder.name + ".partial")


def write_tables(runs: list[Run], statuses: dict, reports: Path, profile: Profile, store: Path) -> None:
    """results.csv (every finished run's rows, in run order) and runs.json (every run's status).

    The store is the truth: a run another sweep finished meanwhile counts as done. Writers take a
    lock so two sweeps on one store write the tables one after the other (each write atomic)."""
    from filelock import FileLock

    reports.mkdir(parents=True, exist_ok=True)
    with FileLock(str(reports / ".tables.lock")):
        statuses = dict(statuses)
        for run in runs:
            if statuses.get(run.run_id, {}).get("status") != "ok" and is_finished(run.folder):
                statuses[run.run_id] = stored_status(run.folder)
        _write_tables(runs, statuses, reports, profile, store)


def _write_tables(runs: list[Run], statuses: dict, reports: Path, profile: Profile, store: Path) -> None:
    finished = [run.folder / "rows.csv" for run in runs
                if statuses.get(run.run_id, {}).get("status") == "ok" and (run.folder / "rows.csv").is_file()]
    write_table(concat_rows(finished), reports / "results.csv")
    listing = []
    for run in runs:
        status = statuses.get(run.run_id) or {"status": "pending"}
        listing.append({"run_id": run.run_id, "experiment": run.experiment, "name": run.name, "label": run.label,
                        "status": status.get("status"), "skipped": bool(status.get("skipped")),
                        "duration_s": status.get("duration_s"), "error": status.get("error"),
                        "params": run.params, "needs": run.dependency_params(),
                        "folder": str(run_folder(run, status))})
    meta = {"profile": profile.name, "description": profile.description, "store": str(store), "runs": listing}
    write_json(reports / "runs.json", meta)


def main_sweep(profile: str, store=None, reports=None, engine=None, jobs=None, threads=None,
               build_report: bool = True) -> int:
    """The CLI's sweep: run, then build the report; exit status 1 if any run failed."""
    started = time.time()
    statuses = run_sweep(profile, store=store, reports=reports, engine=engine, jobs=jobs, threads=threads)
    reports = Path(reports or repo_root() / "reports").resolve()
    if build_report:
        from .report import build_report as build

        index = build(reports)
        _log(f"report: {index}")
    bad = [s for s in statuses if s["status"] != "ok"]
    _log(f"finished in {time.time() - started:.1f} s: {len(statuses) - len(bad)} ok, {len(bad)} failed or skipped")
    for status in bad:
        print(f"  {status['status']}: {status['name']}: {status.get('error')}", file=sys.stderr)
    return 1 if bad else 0


# --- the committed notebooks ----------------------------------------------------------------

def refresh_notebooks(profile: str = "smoke", names: list[str] | None = None, root: Path | None = None) -> None:
    """Execute each notebook in place with the first grid point of `profile` (dependencies left
    empty, so each notebook finds or makes its own tickets) in a fresh temporary run store, in
    notebook order: what CI's nbval re-executes and compares (see docs/notebooks.md, nbval)."""
    import tempfile

    import papermill

    root = root or repo_root()
    loaded = load_profile(profile, root)
    with tempfile.TemporaryDirectory(prefix="ticketlib-notebooks-") as store:
        os.environ[settings.RUNS] = store
        os.environ.setdefault("TQDM_DISABLE", "1")
        first: dict[str, Run] = {}
        for run in expand(loaded, Path(store), root):
            first.setdefault(run.experiment, run)
        for run in sorted(first.values(), key=lambda r: r.notebook.name):
            if names and run.notebook.name not in names and run.experiment not in names:
                continue
            _log(f"executing {run.notebook.name} with the {loaded.name} profile's {run.name}")
            papermill.execute_notebook(str(run.notebook), str(run.notebook), parameters=run.params,
                                       cwd=str(run.notebook.parent), progress_bar=False, kernel_name="python3")
            _clean_notebook(run.notebook)


def _clean_notebook(path: Path) -> None:
    """Drop papermill's per-run timing metadata, so a refresh that changes nothing shows no diff
    beyond outputs."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, str(path))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ticketlib.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a profile's sweep and build its report (= ticketlib study)")
    run.add_argument("profile")
    run.add_argument("--engine", choices=["local", "submitit"])
    run.add_argument("--jobs", type=int)
    run.add_argument("--threads", type=int)
    run.add_argument("--store")
    run.add_argument("--reports")
    show = commands.add_parser("list", help="list a profile's runs, their ids and whether they are done")
    show.add_argument("profile")
    show.add_argument("--store")
    flat = commands.add_parser("params", help="print one run's resolved parameters as YAML, for papermill -f")
    flat.add_argument("profile")
    flat.add_argument("experiment")
    flat.add_argument("--index", type=int, default=0, help="which grid point (default: the first)")
    refresh = commands.add_parser("refresh-notebooks", help="re-execute the committed notebooks (smoke profile)")
    refresh.add_argument("profile", nargs="?", default="smoke")
    refresh.add_argument("names", nargs="*", help="notebook files or experiment names (default: all)")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return main_sweep(args.profile, store=args.store, reports=args.reports, engine=args.engine,
                              jobs=args.jobs, threads=args.threads)
        if args.command == "list":
            store = Path(args.store or store_root()).resolve()
            for item in expand(load_profile(args.profile), store):
                state = "done" if is_finished(item.folder) else (
                    "failed" if (item.folder.with_name(item.folder.name + ".partial") / "status.json").is_file()
                    else "todo")
                print(f"{state:7} {item.run_id}  {item.name}")
            return 0
        if args.command == "params":
            import yaml

            runs = [r for r in expand(load_profile(args.profile), store_root()) if r.experiment == args.experiment]
            if not runs:
                raise ProfileError(f"profile {args.profile!r} has no runs of experiment {args.experiment!r}")
            print(yaml.safe_dump(to_jsonable(runs[args.index].params), sort_keys=False), end="")
            return 0
        refresh_notebooks(args.profile, args.names)
        return 0
    except (ProfileError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
