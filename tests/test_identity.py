"""One run identity for runs by hand and sweeps (ticketlib.study.identity, issue 13): the library's
experiment functions, given no run folder, resolve the very folder a sweep with the same
parameters uses, for IMP and for the runs that take its ticket, whatever the profile calls the
experiment; and a sweep takes over a folder a run by hand left, instead of starting again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import PRODUCE_PARAMS, make_notebook

from ticketlib import sweep
from ticketlib.foundations.atomic import read_json
from ticketlib.foundations.paths import partial_dir
from ticketlib.study import experiments as ex
from ticketlib.study import identity
from ticketlib.study.profiles import load_profile
from ticketlib.tasks.params import Recipe

OWN = {
    "baselines": ("at_levels", "methods", "seeds"),
    "transfer": ("source_task", "source_params", "at_levels", "seeds"),
    "rewinding": ("rewind_steps",),
}  # each experiment function's own parameters, as its notebook names them


def recipe_of(run) -> Recipe:
    return Recipe.from_namespace(run.params, **(run.params.get("recipe_extra") or {}))


def kind(run) -> str:
    return identity.notebook_experiment(run.notebook)


@pytest.fixture(params=["smoke", "quick"])
def planned(request, tmp_path, monkeypatch):
    """A shipped profile's runs, planned on an empty store that is also the hand runs' store; the
    IMP runs described as the sweep leaves them when they finish (params.json)."""
    store = tmp_path / "store"
    monkeypatch.setenv("TICKETLIB_RUNS", str(store))
    runs = sweep.expand(load_profile(request.param), store)
    for run in runs:
        if kind(run) == "find_tickets":
            identity.describe(run.folder, run.identity(), run.notebook_params())
    return runs


def test_a_hand_run_and_a_sweep_run_of_imp_share_a_folder(planned):
    imp = [r for r in planned if kind(r) == "find_tickets"]
    assert imp
    for run in imp:
        assert ex.resolve_run_dir(None, "find_tickets", recipe_of(run)) == run.folder, run.name
        assert identity.folder_id(run.folder) == run.run_id
        assert run.folder.name == f"{run.params['task']}-{run.run_id}"
        assert run.folder.parent.name == "find_tickets"  # whatever the profile calls the experiment
    recipe = recipe_of(imp[0])
    assert ex.resolve_run_dir(None, "find_tickets", recipe.replace(subset_seed=7)) != imp[0].folder
    assert ex.resolve_run_dir(None, "find_tickets", recipe.replace(threads=1, device="cpu")) == imp[0].folder
    assert ex.resolve_run_dir(None, "find_tickets", recipe, {"rewind_step": 3}) != imp[0].folder


def test_runs_that_take_a_ticket_share_a_folder_too(planned):
    checked = 0
    for run in planned:
        if kind(run) not in OWN:
            continue
        own = {k: run.params[k] for k in OWN[kind(run)]}
        needed = Path(run.notebook_params()["ticket"])
        assert ex.resolve_run_dir(None, kind(run), recipe_of(run), own, {"ticket": needed}) == run.folder, run.name
        assert ex.resolve_run_dir(None, kind(run), recipe_of(run), own, {"ticket": needed.parent}) != run.folder
        checked += 1
        if kind(run) == "transfer":  # a transfer by hand finds the source task's IMP run of the sweep
            source = recipe_of(run).replace(task=run.params["source_task"], **run.params["source_params"])
            assert ex.resolve_run_dir(None, "find_tickets", source) == run.needs["ticket"].folder, run.name
    assert checked >= 2


def test_a_sweep_takes_over_a_folder_a_hand_run_left(toy):
    log = toy / "executions.log"
    make_notebook(
        toy / "notebooks" / "produce.ipynb",
        PRODUCE_PARAMS,
        "import pathlib\nassert (pathlib.Path(run_dir) / 'by_hand.txt').is_file()\n"
        f"open({str(log)!r}, 'a').write(task + '\\n')\n",
    )
    run = next(
        r for r in sweep.expand(load_profile("toy", root=toy), toy / "store", root=toy) if r.experiment == "produce"
    )
    run.folder.mkdir(parents=True)
    (run.folder / "by_hand.txt").write_text("work a run by hand did")  # no status.json: not a sweep's
    status = sweep.execute_run(sweep.run_spec(run, threads=None, html=False))
    assert status["status"] == "ok" and not status["skipped"], status.get("error")
    assert (run.folder / "by_hand.txt").is_file() and read_json(run.folder / "params.json")["run_id"] == run.run_id
    assert not partial_dir(run.folder).exists() and log.read_text().split() == [run.params["task"]]


def test_a_run_in_the_callers_process_sets_its_kernels_environment_and_leaves_none(toy, monkeypatch):
    """The kernel sees the sweep's store and thread count; the caller's environment is as before."""
    seen = toy / "seen.txt"
    make_notebook(
        toy / "notebooks" / "produce.ipynb",
        PRODUCE_PARAMS,
        "import os\nopen(" + repr(str(seen)) + ", 'w').write(os.environ['TICKETLIB_RUNS'] + ' ' + "
        "os.environ['OMP_NUM_THREADS'])\n",
    )
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("TICKETLIB_RUNS", raising=False)
    run = next(
        r for r in sweep.expand(load_profile("toy", root=toy), toy / "store", root=toy) if r.experiment == "produce"
    )
    status = sweep.execute_run(sweep.run_spec(run, threads=1, html=False))
    assert status["status"] == "ok", status.get("error")
    assert seen.read_text() == f"{toy / 'store'} 1"
    assert os.environ["OMP_NUM_THREADS"] == "7" and "TICKETLIB_RUNS" not in os.environ
