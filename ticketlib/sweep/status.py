"""A run's status: one dataclass, stored as `<run>/status.json` (ticketlib.foundations.atomic.write_json)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ticketlib.foundations.atomic import read_json, write_json
from ticketlib.foundations.paths import STATUS_FILE, partial_dir
from ticketlib.sweep.notebooks import code_hash

STATES = ("ok", "failed", "skipped", "pending")


@dataclass
class RunStatus:
    """ok: finished; failed: its notebook raised, or it could not start; skipped: a run it needs
    did not finish; pending: not run yet. `found` marks a finished run this sweep did not execute
    (done before, or by another sweep on the store): stored in JSON as `skipped: true`. A
    gathering run (`after`) records its `inputs`: it is reused only while they are the same,
    so a summary made while a run had failed is made again once that run finishes."""

    run_id: str
    experiment: str
    name: str
    params: dict = field(default_factory=dict)
    status: str = "pending"
    error: str | None = None
    found: bool = False
    started: float | None = None
    finished: float | None = None
    duration_s: float | None = None
    host: str | None = None
    notebook_code: str | None = None  # hash of the notebook's code cells it ran with
    traceback: str | None = None
    html_error: str | None = None
    inputs: list[str] | None = None  # a gathering run: the run ids it needed that were ok when it ran

    def __post_init__(self):
        if self.status not in STATES:
            raise ValueError(f"unknown run status {self.status!r}; expected one of {STATES}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["skipped"] = data.pop("found")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "RunStatus":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["found"] = bool(data.get("skipped"))
        return cls(**values)

    def write(self, folder: Path) -> None:
        write_json(Path(folder) / STATUS_FILE, self.to_dict())

    @classmethod
    def read(cls, folder: Path) -> "RunStatus":
        return cls.from_dict(read_json(Path(folder) / STATUS_FILE))


def is_finished(folder: Path) -> bool:
    status = folder / STATUS_FILE
    return status.is_file() and read_json(status).get("status") == "ok"


def reusable_status(folder: Path, inputs: list[str] | None) -> RunStatus | None:
    """A finished run's stored status if it serves again (one read of its status.json), else None:
    any finished run, but a gathering one only if it ran with these `inputs` (RunStatus.inputs)."""
    if not (folder / STATUS_FILE).is_file():
        return None
    status = stored_status(folder)
    return status if status.ok and (inputs is None or status.inputs == inputs) else None


def stored_status(folder: Path) -> RunStatus:
    """The status of a run found finished in the store (by this sweep before, or another)."""
    status = RunStatus.read(folder)
    status.found = True
    return status


def run_state(folder: Path, notebook: Path) -> str:
    """For `ticketlib sweep list`: "done" (finished), "done*" (finished with other code in its
    notebook than now: not re-run, see ticketlib.study.identity), "failed" or "todo"."""
    if is_finished(folder):
        made_with = RunStatus.read(folder).notebook_code
        return "done" if made_with in (None, code_hash(notebook)) else "done*"
    return "failed" if (partial_dir(folder) / STATUS_FILE).is_file() else "todo"
