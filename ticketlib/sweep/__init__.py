"""Sweeps: a profile's grid expanded into notebook runs, run once each, in dependency order.

- Identity: ticketlib.study.identity, the same scheme as runs by hand (a notebook, `ticketlib imp`):
  a run's experiment, resolved parameters, dependencies by *their* ids and the ticketlib
  version; its folder is `<store>/<experiment>/<task>-<id>`. The notebook's code is recorded
  in the run's status, not part of its identity (why: ticketlib.study.identity).
- Skip: a folder with `status.json` saying "ok" is finished and never redone.
- Dependencies: a run that needs another's output (a ticket for the baselines or a transfer)
  starts once that run is done; if it failed, the dependent is skipped and says why.
- Atomic outputs: a run executes in `<folder>.partial/` (IMP resumes there after a kill)
  and is renamed to `<folder>` when it succeeds. A failed run keeps `<folder>.partial/` with
  its executed notebook (the error inside), its HTML and status.json; the others go on.
- Engines (one option, one code path): "local" (parallel processes) or "submitit" (Slurm, or
  its local executor in the tests).
- Results: every finished run's tidy rows (`rows.csv`) are appended to one table,
  `<reports>/results.csv`, and `<reports>/runs.json` lists every run with its status.

Modules, by concern: plan (grid -> runs), execute (one run, under its lock), engines (local
pool, submitit, the worker's watch on its driver), driver (the scheduling loop, the tables,
the progress bar), status (RunStatus), notebooks (parameters cell, code hash, HTML). The
command line is `ticketlib sweep run|list|params` (ticketlib.cli.main).
"""

from ticketlib.sweep.driver import Driver, Sweep, main_sweep, plan_sweep, run_sweep, write_tables  # noqa: F401
from ticketlib.sweep.engines import LocalEngine, SubmititEngine, make_engine  # noqa: F401
from ticketlib.sweep.execute import execute_run, run_spec  # noqa: F401
from ticketlib.sweep.notebooks import (  # noqa: F401
    _read_notebook,
    code_hash,
    notebook_parameters,
    notebook_to_html,
    read_notebook,
    strip_remote_scripts,
)
from ticketlib.sweep.plan import SWEEP_PARAMS, Run, expand  # noqa: F401
from ticketlib.sweep.status import RunStatus, is_finished, run_state, stored_status  # noqa: F401
