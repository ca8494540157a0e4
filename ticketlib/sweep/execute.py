"""Executing one run (in a worker process or a cluster job): its notebook through papermill in
`<folder>.partial/`, under the run's lock, renamed to `<folder>` when it succeeds."""

from __future__ import annotations

import os
import re
import shutil
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from ticketlib.foundations.atomic import to_jsonable
from ticketlib.foundations.paths import NOTEBOOK_FILE, NOTEBOOK_HTML, lock_path, partial_dir, store_of
from ticketlib.foundations.settings import RUNS, threads_env
from ticketlib.study.identity import describe
from ticketlib.sweep.notebooks import code_hash, execute_notebook, notebook_to_html
from ticketlib.sweep.plan import Run
from ticketlib.sweep.status import RunStatus, reusable_status


def run_spec(run: Run, threads: int | None, html: bool = True, inputs: list[str] | None = None) -> dict:
    """Everything a worker needs, as plain JSON-able data. `inputs`: a gathering run's needed
    runs that finished ok (RunStatus.inputs)."""
    return to_jsonable(
        {
            "run_id": run.run_id,
            "experiment": run.experiment,
            "name": run.name,
            "notebook": str(run.notebook),
            "params": run.notebook_params(),
            "identity": run.identity(),
            "folder": str(run.folder),
            "threads": threads,
            "html": html,
            "inputs": inputs,
        }
    )


def new_status(spec: dict, status: str = "pending", error: str | None = None) -> RunStatus:
    return RunStatus(
        run_id=spec["run_id"],
        experiment=spec["experiment"],
        name=spec["name"],
        params=spec["params"],
        status=status,
        error=error,
    )


def execute_run(spec: dict) -> dict:
    """Execute one run's notebook with papermill. Never raises for a failing notebook: returns
    (and writes) its status, as a dict (RunStatus.to_dict()).

    The run's lock (a hidden file beside its folder, never deleted: deleting a lock file lets a
    second process lock a new file while the first still holds the old one) is held from the
    check "is it finished?" to the rename into place, so two sweeps on one store never both
    execute a run: the second either finds the lock held or, once it gets it, the run finished.
    A folder a run by hand left under the final name (ticketlib.study.identity: the same folder) is
    taken over: moved to `.partial` and executed there, so the notebook resumes its work."""
    from filelock import FileLock, Timeout

    final = Path(spec["folder"])
    work = partial_dir(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(final)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return new_status(spec, "failed", f"already running elsewhere ({lock.lock_file} is held)").to_dict()
    try:
        reused = reusable_status(final, spec.get("inputs"))
        if reused is not None:  # another sweep finished it between our check and our lock
            return reused.to_dict()
        if final.is_dir() and not work.exists():  # a run by hand (or a summary of other inputs): redo it there
            os.replace(final, work)
        work.mkdir(exist_ok=True)
        status = _execute(spec, work)
        if status.ok:
            if final.exists():
                shutil.rmtree(final)
            os.replace(work, final)
        return status.to_dict()
    finally:
        lock.release()


def _execute(spec: dict, work: Path) -> RunStatus:
    describe(work, spec["identity"], spec["params"])
    kernel_env = {
        "TQDM_DISABLE": os.environ.get("TQDM_DISABLE", "1"),
        RUNS: str(store_of(work)),  # the kernel's store is the sweep's (it prints paths within it)
        **(threads_env(spec["threads"]) if spec.get("threads") else {}),
    }
    status = new_status(spec)
    status.started, status.host = time.time(), os.uname().nodename
    status.notebook_code = code_hash(Path(spec["notebook"]))
    status.inputs = spec.get("inputs")
    output = work / NOTEBOOK_FILE
    try:
        with environment(kernel_env):
            execute_notebook(
                spec["notebook"],
                output,
                {**spec["params"], "run_dir": str(work), "run_id": spec["run_id"]},
                cwd=work,
                progress_bar=False,
                log_output=False,
            )
        status.status = "ok"
    except Exception as error:  # the notebook failed (its error is in the executed notebook) or could not start
        status.status, status.error = "failed", f"{type(error).__name__}: {short(error)}"
        status.traceback = traceback.format_exc()[-4000:]
    status.finished = time.time()
    status.duration_s = round(status.finished - status.started, 2)
    if spec.get("html", True) and output.is_file():
        try:
            notebook_to_html(output, work / NOTEBOOK_HTML)
        except Exception as error:  # a report problem must not lose the run
            status.html_error = f"{type(error).__name__}: {error}"
    status.write(work)
    return status


@contextmanager
def environment(changes: dict[str, str]):
    """os.environ with `changes` while a kernel starts from it (it inherits the environment), then
    as before: a run executed in the caller's own process (a test, a sweep without workers) leaves
    no trace in it."""
    before = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def short(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    text = " | ".join(lines[-3:]) if lines else repr(error)
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[:600]
