"""One run identity for runs by hand and sweeps (ticketlib.identity, issue 13): the library's
experiment functions, given no run folder, resolve the very folder a sweep with the same
parameters uses, for IMP and for the runs that take its ticket; and a sweep takes over a
folder a run by hand left, instead of starting again."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_sweep import PRODUCE_PARAMS, make_notebook, toy  # noqa: F401  (fixture)
from ticketlib import experiments as ex
from ticketlib import identity, sweep
from ticketlib.params import Recipe, load_profile
from ticketlib.store import read_json


def recipe_of(run) -> Recipe:
    return Recipe.from_namespace(run.params, **(run.params.get("recipe_extra") or {}))


@pytest.fixture
def quick(tmp_path, monkeypatch):
    """The quick profile's runs, planned on an empty store that is also the hand runs' store."""
    store = tmp_path / "store"
    monkeypatch.setenv("TICKETLIB_RUNS", str(store))
    runs = {r.name: r for r in sweep.expand(load_profile("quick"), store)}
    for run in runs.values():
        if run.experiment == "find_tickets":  # as the sweep leaves a finished run: with its params.json
            identity.describe(run.folder, run.identity(), run.notebook_params())
    return runs


def test_a_hand_run_and_a_sweep_run_of_imp_share_a_folder(quick):
    for task in ("rt-sentiment", "squad-qnli", "wiki-mlm"):
        run = quick[f"find_tickets[task={task}]"]
        assert ex.resolve_run_dir(None, "find_tickets", recipe_of(run)) == run.folder
        assert identity.folder_id(run.folder) == run.run_id
        assert run.folder.name == f"{task}-{run.run_id}"
    run = quick["find_tickets[task=rt-sentiment]"]
    assert ex.resolve_run_dir(None, "find_tickets", recipe_of(run).replace(seed=1)) != run.folder
    assert ex.resolve_run_dir(None, "find_tickets", recipe_of(run).replace(threads=1, device="cpu")) == run.folder
    assert ex.resolve_run_dir(None, "find_tickets", recipe_of(run), {"rewind_step": 3}) != run.folder


def test_runs_that_take_a_ticket_share_a_folder_too(quick):
    ticket = quick["find_tickets[task=rt-sentiment]"].folder
    for name, run in quick.items():
        if run.experiment == "baselines":
            own = {k: run.params[k] for k in ("at_levels", "methods", "seeds")}
        elif run.experiment == "transfer":
            own = {k: run.params[k] for k in ("source_task", "source_params", "at_levels", "seeds")}
        elif run.experiment == "rewinding":
            own = {"rewind_steps": run.params["rewind_steps"]}
        else:
            continue
        needed = Path(run.notebook_params()["ticket"])
        assert ex.resolve_run_dir(None, run.experiment, recipe_of(run), own, {"ticket": needed}) == run.folder, name
        assert ex.resolve_run_dir(None, run.experiment, recipe_of(run), own, {"ticket": ticket.parent}) \
            != run.folder  # another ticket: another run
    transfer = quick["transfer[task=rt-sentiment, source_task=wiki-mlm]"]
    source = recipe_of(transfer).replace(task="wiki-mlm", **transfer.params["source_params"])
    assert ex.resolve_run_dir(None, "find_tickets", source) == quick["find_tickets[task=wiki-mlm]"].folder


def test_a_sweep_takes_over_a_folder_a_hand_run_left(toy):  # noqa: F811
    log = toy / "executions.log"
    make_notebook(toy / "notebooks" / "produce.ipynb", PRODUCE_PARAMS,
                  "import pathlib\nassert (pathlib.Path(run_dir) / 'by_hand.txt').is_file()\n"
                  f"open({str(log)!r}, 'a').write(task + '\\n')\n")
    run = next(r for r in sweep.expand(load_profile("toy", root=toy), toy / "store", root=toy)
               if r.experiment == "produce")
    run.folder.mkdir(parents=True)
    (run.folder / "by_hand.txt").write_text("work a run by hand did")  # no status.json: not a sweep's
    status = sweep.execute_run(sweep.run_spec(run, threads=None, html=False))
    assert status["status"] == "ok" and not status["skipped"], status.get("error")
    assert (run.folder / "by_hand.txt").is_file() and read_json(run.folder / "params.json")["run_id"] == run.run_id
    assert not sweep.partial(run.folder).exists() and log.read_text().split() == [run.params["task"]]
