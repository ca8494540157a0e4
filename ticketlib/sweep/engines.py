"""Engines (one option, one code path): "local" runs runs in parallel processes on this machine;
"submitit" submits each run as a job through submitit (Slurm on a cluster, its local executor in
the tests). The driver's scheduling loop is the same for both."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time
from pathlib import Path

from ticketlib.sweep.execute import execute_run

_executing = threading.Lock()  # held by a pool worker while it executes a run


def _watch_driver(driver_pid: int) -> None:
    """Pool-worker initializer: once the driver is gone (killed), finish the run in progress,
    which publishes itself, and exit, instead of idling forever on the task queue."""

    def watch():
        while os.getppid() == driver_pid:
            time.sleep(1.0)
        with _executing:
            os._exit(0)

    threading.Thread(target=watch, daemon=True, name="watch-driver").start()


def _execute_in_pool(spec: dict, driver_pid: int) -> dict:
    with _executing:
        if os.getppid() != driver_pid:  # a queued run, taken after the driver died: leave it
            os._exit(0)
        return execute_run(spec)


class LocalEngine:
    """Parallel processes on this machine."""

    name = "local"

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.pool = concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_watch_driver, initargs=(os.getpid(),)
        )

    def submit(self, spec: dict):
        return self.pool.submit(_execute_in_pool, spec, os.getpid())

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
        # The job's name is its run's (`squeue` shows which run a job is: the one to `scancel`).
        self.executor.update_parameters(name=spec["name"])
        return self.executor.submit(execute_run, spec)

    def close(self):
        pass


def make_engine(kind: str, jobs: int, store: Path, cluster: dict):
    if kind == "local":
        return LocalEngine(jobs)
    if kind == "submitit":
        return SubmititEngine(store / ".submitit", jobs, cluster)
    raise ValueError(f"unknown engine {kind!r}; expected 'local' or 'submitit'")
