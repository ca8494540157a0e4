"""The driver: runs a profile's unfinished runs in dependency order on an engine, keeps the
results tables current, and shows one progress bar over the runs (with an ETA; off when the
output is not a terminal, each run's own progress stays in its notebook)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ticketlib.foundations.atomic import write_json
from ticketlib.foundations.paths import RESULTS_CSV, ROWS_FILE, RUNS_JSON, TABLES_LOCK, partial_dir
from ticketlib.foundations.settings import repo_root, store_root
from ticketlib.study.profiles import Profile, load_profile
from ticketlib.sweep.engines import make_engine
from ticketlib.sweep.execute import new_status, run_spec, short
from ticketlib.sweep.plan import Run, expand
from ticketlib.sweep.status import RunStatus, is_finished, reusable_status, stored_status
from ticketlib.tickets.results import concat_rows, write_table


def log(message: str) -> None:
    text = f"[sweep {time.strftime('%H:%M:%S')}] {message}"
    from tqdm import tqdm

    tqdm.write(text, file=sys.stdout)  # above the progress bar, if one is shown
    sys.stdout.flush()


@dataclass
class Sweep:
    """One sweep: the profile's runs and where and how they run."""

    profile: Profile
    runs: list[Run]
    store: Path
    reports: Path
    engine: str = "local"
    jobs: int = 1
    threads: int | None = None
    cluster: dict = field(default_factory=dict)
    html: bool = True
    statuses: dict[str, RunStatus] = field(default_factory=dict)  # run id -> status

    def write_tables(self) -> None:
        write_tables(self.runs, self.statuses, self.reports, self.profile, self.store)


def plan_sweep(
    profile: str | Path | Profile,
    store: Path | None = None,
    reports: Path | None = None,
    engine: str | None = None,
    jobs: int | None = None,
    threads: int | None = None,
    cluster: dict | None = None,
    html: bool = True,
    root: Path | None = None,
    shard: dict | None = None,
) -> Sweep:
    """`shard`: run only that shard's runs (ticketlib.sweep.shards: e.g. {"seed": 0})."""
    profile = profile if isinstance(profile, Profile) else load_profile(profile, root)
    store = Path(store or store_root()).resolve()
    reports = Path(reports or (root or repo_root()) / "reports").resolve()
    engine = engine or profile.engine
    cluster = {**profile.cluster, **(cluster or {})}
    cores = os.cpu_count() or 1
    jobs = jobs or profile.jobs or (cores if engine == "local" else 64)
    threads = threads or (max(1, cores // jobs) if engine == "local" else cluster.get("cpus_per_task"))
    runs = expand(profile, store, root)
    if shard:
        runs = _shard_runs(runs, shard)
    return Sweep(profile, runs, store, reports, engine, jobs, threads, cluster, html)


def _shard_runs(runs: list[Run], filters: dict) -> list[Run]:
    from ticketlib.sweep.shards import select_shard

    chosen = select_shard(runs, filters)
    borrowed = [r.name for r in chosen.borrowed if not is_finished(r.folder)]
    log(
        f"shard {chosen.label()}: {len(chosen.own)} of the profile's {len(runs)} runs"
        + (
            f"; {len(borrowed)} run(s) of other shards they need run here too (import that shard first to "
            f"reuse them): {', '.join(borrowed)}"
            if borrowed
            else ""
        )
    )
    return chosen.runs


def run_sweep(
    profile: str | Path | Profile,
    store: Path | None = None,
    reports: Path | None = None,
    engine: str | None = None,
    jobs: int | None = None,
    threads: int | None = None,
    cluster: dict | None = None,
    html: bool = True,
    root: Path | None = None,
    shard: dict | None = None,
) -> list[dict]:
    """Run every unfinished run of `profile` (of its `shard`); returns one status per run
    (RunStatus.to_dict())."""
    sweep = plan_sweep(profile, store, reports, engine, jobs, threads, cluster, html, root, shard)
    for run in sweep.runs:
        if is_finished(run.folder) and not run.gathers:  # a gathering run: once its inputs are known
            sweep.statuses[run.run_id] = stored_status(run.folder)
            log(f"reused {run.name}: finished before, in {run.folder}")
    todo = [r for r in sweep.runs if r.run_id not in sweep.statuses]
    log(
        f"profile {sweep.profile.name}: {len(sweep.runs)} runs, {len(sweep.runs) - len(todo)} already done, "
        f"{len(todo)} to run ({sweep.engine} engine, {sweep.jobs} at a time, store {sweep.store})"
    )
    if todo:
        Driver(sweep, todo).drive()
    sweep.write_tables()
    return [sweep.statuses[r.run_id].to_dict() for r in sweep.runs]


class Driver:
    """The scheduling loop: start every run whose dependencies are done (at most `jobs` at a
    time), collect the finished ones, skip those whose needed run failed."""

    def __init__(self, sweep: Sweep, todo: list[Run]):
        self.sweep = sweep
        self.pending = list(todo)
        self.running: dict[str, tuple[Run, Any]] = {}
        self.engine = make_engine(sweep.engine, sweep.jobs, sweep.store, sweep.cluster)

    def drive(self) -> None:
        from tqdm import tqdm

        total, done = len(self.sweep.runs), len(self.sweep.runs) - len(self.pending)
        with tqdm(
            total=total,
            initial=done,
            unit="run",
            desc=f"sweep {self.sweep.profile.name}",
            file=sys.stderr,
            disable=None,
            dynamic_ncols=True,
        ) as self.bar:
            try:
                while self.pending or self.running:
                    self.start_ready()
                    time.sleep(0.2)
                    self.collect_done()
            finally:
                self.engine.close()

    def start_ready(self) -> None:
        statuses = self.sweep.statuses
        for run in list(self.pending):
            if len(self.running) >= self.sweep.jobs:
                break
            waits = [statuses.get(d.run_id) for d in run.waits]
            if any(w is None for w in waits):
                continue
            self.pending.remove(run)
            failed = [d.name for d, w in zip(run.waits, waits) if not w.ok]
            hard = [d for d in run.needs.values() if not isinstance(d, list)]
            if any(not statuses[d.run_id].ok for d in hard):
                status = RunStatus(
                    run.run_id,
                    run.experiment,
                    run.name,
                    run.params,
                    "skipped",
                    f"needs {', '.join(failed)}, which did not finish",
                )
                self.finish(run, status)
                continue
            inputs = sorted(d.run_id for d, w in zip(run.waits, waits) if w.ok) if run.gathers else None
            reused = reusable_status(run.folder, inputs)
            if reused is not None:
                log(f"reused {run.name}: finished before, with the same inputs, in {run.folder}")
                self.sweep.statuses[run.run_id] = reused
                self.bar.update(1)
                continue
            resumed = partial_dir(run.folder).exists() or run.folder.exists()  # a failed try, or a run by hand
            log(f"start {run.name} ({run.run_id}, {'resumed' if resumed else 'new'}) in {partial_dir(run.folder)}")
            spec = run_spec(run, self.sweep.threads, self.sweep.html, inputs)
            self.running[run.run_id] = (run, self.engine.submit(spec))

    def collect_done(self) -> None:
        for run_id, (run, future) in list(self.running.items()):
            if not future.done():
                continue
            del self.running[run_id]
            try:
                status = RunStatus.from_dict(future.result())
            except Exception as error:  # the worker itself died (killed, out of memory, job lost)
                spec = run_spec(run, None, False)
                status = new_status(spec, "failed", f"worker: {type(error).__name__}: {short(error)}")
            self.finish(run, status)
            self.sweep.write_tables()

    def finish(self, run: Run, status: RunStatus) -> None:
        self.sweep.statuses[run.run_id] = status
        if status.ok:
            log(
                f"done {run.name} in {status.duration_s or 0:.1f} s"
                + (" (by another sweep on this store)" if status.found else "")
                + f": {run.folder}"
            )
        elif status.status == "skipped":
            log(f"SKIPPED {run.name}: {status.error}")
        else:
            log(f"FAILED {run.name}: {status.error} (notebook kept in {partial_dir(run.folder)})")
        self.bar.update(1)


def run_folder_now(run: Run, status: RunStatus | None) -> Path:
    """Where the run's files are: its folder when finished, else `.partial`."""
    return run.folder if status and status.ok else partial_dir(run.folder)


def write_tables(runs: list[Run], statuses: dict[str, RunStatus], reports: Path, profile: Profile, store: Path) -> None:
    """results.csv (every finished run's rows, in run order, ticketlib.tickets.results) and runs.json
    (every run's status).

    The store is the truth: a run another sweep finished meanwhile counts as done. Writers take a
    lock so two sweeps on one store write the tables one after the other (each write atomic)."""
    from filelock import FileLock

    reports.mkdir(parents=True, exist_ok=True)
    with FileLock(str(reports / TABLES_LOCK)):
        statuses = dict(statuses)
        for run in runs:
            if not (run.run_id in statuses and statuses[run.run_id].ok) and is_finished(run.folder):
                statuses[run.run_id] = stored_status(run.folder)
        finished = [
            run
            for run in runs
            if run.run_id in statuses and statuses[run.run_id].ok and (run.folder / ROWS_FILE).is_file()
        ]
        write_table(
            concat_rows([run.folder / ROWS_FILE for run in finished], [run.experiment for run in finished]),
            reports / RESULTS_CSV,
        )
        listing = []
        for run in runs:
            status = statuses.get(run.run_id) or RunStatus(run.run_id, run.experiment, run.name, run.params)
            listing.append(
                {
                    "run_id": run.run_id,
                    "experiment": run.experiment,
                    "name": run.name,
                    "label": run.label,
                    "status": status.status,
                    "skipped": status.found,
                    "duration_s": status.duration_s,
                    "error": status.error,
                    "params": run.params,
                    "needs": run.dependency_params(),
                    "folder": str(run_folder_now(run, status)),
                }
            )
        write_json(
            reports / RUNS_JSON,
            {
                "profile": profile.name,
                "description": profile.description,
                "store": str(store),
                "rules": profile.rules,
                "runs": listing,
            },
        )


def main_sweep(
    profile: str,
    store=None,
    reports=None,
    engine=None,
    jobs=None,
    threads=None,
    build_report: bool = True,
    shard: dict | None = None,
) -> int:
    """`ticketlib study` / `ticketlib sweep run`: run, then build the report; 1 if any run failed."""
    started = time.time()
    statuses = run_sweep(profile, store=store, reports=reports, engine=engine, jobs=jobs, threads=threads, shard=shard)
    reports = Path(reports or repo_root() / "reports").resolve()
    if build_report:
        from ticketlib.study.report import build_report as build

        index = build(reports)
        log(f"report: {index}")
    bad = [s for s in statuses if s["status"] != "ok"]
    log(f"finished in {time.time() - started:.1f} s: {len(statuses) - len(bad)} ok, {len(bad)} failed or skipped")
    for status in bad:
        print(f"  {status['status']}: {status['name']}: {status.get('error')}", file=sys.stderr)
    return 1 if bad else 0
