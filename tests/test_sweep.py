"""Profiles and sweeps: composition and validation, run identity, skip, dependencies, atomic run
folders, failures, and the same code path on the local engine and on submitit's local executor.

The mechanics run on toy notebooks (seconds each). The real notebooks run through submitit in
tests/test_slurm.py (on a real Slurm, with the report's checks), through the local engine in
tests/test_shards.py and the docs examples' study.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from helpers import PRODUCE, make_toy_repo, run_toy

from ticketlib import sweep
from ticketlib.foundations.atomic import read_json
from ticketlib.study.profiles import ProfileError, load_profile
from ticketlib.tasks.params import Recipe

# --- profiles -------------------------------------------------------------------------------


def test_profile_extends_and_overrides(toy):
    profile = load_profile("toy", root=toy)
    assert set(profile.experiments) == {"produce", "consume", "gather"}
    assert profile.experiments["produce"]["grid"] == {"task": ["a", "b", "c"]}
    runs = sweep.expand(profile, toy / "store", root=toy)
    values = {r.params["task"]: r.params["value"] for r in runs if r.experiment == "produce"}
    assert values == {"a": 0.5, "b": 2.0, "c": 0.5}  # defaults, then task_params
    consume = [r for r in runs if r.experiment == "consume"]
    assert [r.needs["ticket"].params["task"] for r in consume] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "text, key",
    [
        ("experiments:\n  produce: {params: {valeu: 1}}", "valeu"),
        ("experiments:\n  produce: {grid: {tsak: [a]}}", "tsak"),
        ("defaults: {learning_rat: 1}", "learning_rat"),
        ("task_params: {a: {vlaue: 1}}", "vlaue"),
        ("experiment: {}", "experiment"),
        ("experiments:\n  produce: {notebok: x.ipynb}", "notebok"),
        ("experiments:\n  consume: {needs: {ticket: {experiment: prodce}}}", "prodce"),
        ("experiments:\n  produce: {params: {run_dir: x}}", "run_dir"),
        ("experiments:\n  produce: {grid: {task: [a], value: [1]}, distinct: [task, valeu]}", "valeu"),
    ],
)
def test_unknown_keys_are_errors_that_name_the_key(toy, text, key):
    (toy / "params" / "bad.yaml").write_text("extends: toy.yaml\n" + text + "\n")
    with pytest.raises(ProfileError, match=repr(key)):
        sweep.expand(load_profile("bad", root=toy), toy / "store", root=toy)


def test_distinct_axes_skip_grid_points_where_they_are_equal(toy):
    (toy / "params" / "pairs.yaml").write_text(
        textwrap.dedent("""\
        extends: toy.yaml
        experiments:
          produce: {grid: {task: [a, b, c], value: [a, b]}, distinct: [task, value]}
          consume: {enabled: false}
          gather: {enabled: false}
        """)
    )
    runs = sweep.expand(load_profile("pairs", root=toy), toy / "store", root=toy)
    points = sorted((r.params["task"], r.params["value"]) for r in runs if r.experiment == "produce")
    assert points == [("a", "b"), ("b", "a"), ("c", "a"), ("c", "b")]
    (toy / "params" / "bad.yaml").write_text("extends: toy.yaml\nexperiments:\n  produce: {distinct: [task]}\n")
    with pytest.raises(ProfileError, match="two or more"):
        load_profile("bad", root=toy)


def test_missing_dependency_is_an_error(toy):
    (toy / "params" / "bad.yaml").write_text("extends: toy.yaml\nexperiments:\n  consume: {grid: {task: [z]}}\n")
    with pytest.raises(ProfileError, match="task='z'"):
        sweep.expand(load_profile("bad", root=toy), toy / "store", root=toy)


def test_recipe_checks_values():
    with pytest.raises(ValueError, match="learning_rate"):
        Recipe(learning_rate="fast")
    with pytest.raises(ValueError, match="head_policy"):
        Recipe(head_policy="sometimes")
    with pytest.raises(ValueError, match="lerning_rate"):
        Recipe().replace(lerning_rate=1.0)
    assert Recipe.from_namespace({"task": "squad-qnli", "unrelated": 1}).task == "squad-qnli"


def test_shipped_profiles_expand():
    """Every shipped profile: every key known to its notebooks, every dependency found."""
    for name in sorted(p.stem for p in (Path(__file__).parents[1] / "params").glob("*.yaml") if p.stem != "base"):
        profile = load_profile(name)
        runs = sweep.expand(profile, Path("/nonexistent-store"))
        assert runs, name
        for run in runs:
            Recipe.from_namespace(run.params, **run.params.get("recipe_extra", {}))  # values are valid


# --- identity -------------------------------------------------------------------------------


def _ids(toy):
    return {r.name: r.run_id for r in sweep.expand(load_profile("toy", root=toy), toy / "store", root=toy)}


def _edit_produce(toy, cosmetic: bool) -> None:
    path = toy / "notebooks" / "produce.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    if cosmetic:
        nb.cells[0].source = "# toy, retitled"  # markdown
        nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="old output")]
        nb.cells[2].execution_count = 7
        nb.metadata["widgets"] = {"saved": True}
    else:
        nb.cells[2].source += "\n# a code change"
    nbformat.write(nb, str(path))
    sweep._read_notebook.cache_clear()


def test_identity_follows_parameters_dependencies_and_version_not_the_notebooks_code(toy, monkeypatch):
    """ticketlib.study.identity: a run is its experiment, parameters, dependencies and the version; a
    notebook's code is not part of it (a run by hand cannot know it), cosmetic or not."""
    from ticketlib.study import identity

    before = _ids(toy)
    _edit_produce(toy, cosmetic=True)
    assert _ids(toy) == before
    _edit_produce(toy, cosmetic=False)
    assert _ids(toy) == before

    (toy / "params" / "toy2.yaml").write_text("extends: toy.yaml\ntask_params: {a: {value: 3.0}}\n")
    changed = {
        r.name
        for r in sweep.expand(load_profile("toy2", root=toy), toy / "store", root=toy)
        if r.run_id != before[r.name]
    }
    assert changed == {"produce[task=a]", "consume[task=a]", "gather"}  # the run, its dependents

    monkeypatch.setattr(identity, "__version__", "9.9.9")
    assert all(v not in before.values() for v in _ids(toy).values())


# --- running --------------------------------------------------------------------------------


@pytest.mark.slow  # a whole toy sweep, twice (about 10 s)
@pytest.mark.essential
def test_sweep_runs_skips_and_isolates_failures(toy):
    (toy / "params" / "toy_fail.yaml").write_text("extends: toy.yaml\ntask_params: {c: {fail: true}}\n")
    statuses = {s["name"]: s for s in run_toy(toy, "toy_fail", jobs=2)}
    assert statuses["produce[task=a]"]["status"] == "ok"
    assert statuses["produce[task=c]"]["status"] == "failed"
    assert "boom for c" in statuses["produce[task=c]"]["error"]
    assert statuses["consume[task=c]"]["status"] == "skipped"  # its ticket failed
    assert statuses["consume[task=a]"]["status"] == "ok"
    assert statuses["gather"]["status"] == "ok"  # `after` waits for the end, not for success

    runs = {r.name: r for r in sweep.expand(load_profile("toy_fail", root=toy), toy / "store", root=toy)}
    failed = runs["produce[task=c]"].folder
    assert not failed.exists()
    partial = failed.with_name(failed.name + ".partial")
    executed = nbformat.read(str(partial / "notebook.ipynb"), as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in executed.cells for o in c.get("outputs", []))
    assert read_json(partial / "status.json")["status"] == "failed"
    ok = runs["produce[task=a]"].folder
    assert (ok / "status.json").is_file() and (ok / "notebook.ipynb").is_file()
    assert not ok.with_name(ok.name + ".partial").exists()  # renamed into place

    results = pd.read_csv(toy / "reports" / "results.csv")
    assert sorted(results["task"]) == ["a", "b"]
    assert {
        "experiment",
        "task",
        "source_task",
        "model",
        "seed",
        "sparsity",
        "level",
        "metric",
        "value",
        "run_id",
    } <= set(results.columns)
    listing = json.loads((toy / "reports" / "runs.json").read_text())
    assert {r["status"] for r in listing["runs"]} == {"ok", "failed", "skipped"}

    # Again: finished runs are skipped; the failed one is retried (and fails again), nothing else runs.
    again = {s["name"]: s for s in run_toy(toy, "toy_fail", jobs=2)}
    assert again["produce[task=a]"].get("skipped") and again["gather"].get("skipped")
    assert again["produce[task=c]"]["status"] == "failed"

    # `ticketlib sweep list`'s states; a finished run made with other notebook code is marked, not re-run.
    assert [sweep.run_state(runs[n].folder, runs[n].notebook) for n in ("produce[task=a]", "produce[task=c]")] == [
        "done",
        "failed",
    ]
    _edit_produce(toy, cosmetic=False)
    assert sweep.run_state(runs["produce[task=a]"].folder, runs["produce[task=a]"].notebook) == "done*"
    assert run_toy(toy, "toy_fail", jobs=2)[0]["skipped"]


@pytest.mark.slow  # three toy sweeps (about 15 s)
def test_a_summary_made_while_a_run_failed_is_made_again_once_it_finishes(tmp_path):
    """A gathering run (`after`) runs once its experiments ended, ok or not; it records which of
    its runs were ok, and a later sweep reuses it only while that set is the same."""
    flag = tmp_path / "fixed"
    flaky = f"if task == 'c' and not pathlib.Path({str(flag)!r}).exists():\n    raise RuntimeError('not yet')\n"
    toy = make_toy_repo(tmp_path / "repo", produce=PRODUCE.replace("if fail:", flaky + "if fail:"))
    first = {s["name"]: s for s in run_toy(toy)}
    assert first["produce[task=c]"]["status"] == "failed" and first["gather"]["status"] == "ok"
    assert len(first["gather"]["inputs"]) == 4  # produce and consume of a and b
    flag.touch()  # the failed run can finish now
    second = {s["name"]: s for s in run_toy(toy)}
    assert second["produce[task=c]"]["status"] == "ok" and not second["produce[task=c]"]["skipped"]
    assert not second["gather"]["skipped"] and len(second["gather"]["inputs"]) == 6  # made again
    third = {s["name"]: s for s in run_toy(toy)}
    assert all(s["skipped"] for s in third.values())  # nothing changed: every run reused, the summary too
    assert third["gather"]["inputs"] == second["gather"]["inputs"]


@pytest.mark.slow  # two whole toy sweeps (about 11 s)
def test_dependents_rerun_when_their_dependency_changes(toy):
    run_toy(toy, jobs=2)
    (toy / "params" / "toy2.yaml").write_text("extends: toy.yaml\ntask_params: {a: {value: 3.0}}\n")
    statuses = {s["name"]: s for s in run_toy(toy, "toy2", jobs=2)}
    assert not statuses["produce[task=a]"].get("skipped") and not statuses["consume[task=a]"].get("skipped")
    assert statuses["produce[task=b]"].get("skipped") and statuses["consume[task=b]"].get("skipped")
    assert not statuses["gather"].get("skipped")


@pytest.mark.slow  # two toy sweeps as submitit jobs (about 18 s)
def test_submitit_local_executor_runs_the_same_grid(toy):
    """The cluster engine (submitit), in its local mode: the same scheduling code path."""
    statuses = run_toy(toy, engine="submitit", jobs=3, cluster={"cluster": "local", "timeout_min": 10})
    assert [s["status"] for s in statuses] == ["ok"] * len(statuses)
    assert list((toy / "store" / ".submitit").iterdir())  # submitit's job folders
    again = run_toy(toy, engine="submitit", cluster={"cluster": "local"})
    assert all(s.get("skipped") for s in again)


# --- the command line -----------------------------------------------------------------------


def test_sweep_commands_list_and_params(tmp_path, capsys):
    """`ticketlib sweep list|params` (python -m ticketlib.sweep forwards to them)."""
    import yaml

    from ticketlib.cli.main import main

    runs = sweep.expand(load_profile("smoke"), tmp_path)
    assert main(["sweep", "list", "smoke", "--store", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"todo    {r.run_id}  {r.name}" for r in runs]
    assert main(["sweep", "params", "smoke", "find_tickets"]) == 0
    first = next(r for r in runs if r.experiment == "find_tickets")
    assert yaml.safe_load(capsys.readouterr().out) == first.params
    assert main(["sweep", "params", "smoke", "nothing"]) == 2
    assert "'nothing'" in capsys.readouterr().err
