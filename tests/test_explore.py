"""The explorer (ticketlib.study.explore) and the run selection behind the summary and explorer
notebooks (ticketlib.study.last_study), on a fake finished study (tests/study_fixture.py): both the
widget path and the static fallback; empty and bad inputs; training only on request."""

from __future__ import annotations

import shutil
import sys

import pandas as pd
import pytest
from study_fixture import BASELINE_LEVEL, BASELINE_SEEDS, BASELINES, FULL, SEED_STEP, SPARSITY, TASKS, make_study

from ticketlib.study import explore
from ticketlib.study.experiments import ensure_ticket
from ticketlib.study.last_study import select_runs, tickets_listing
from ticketlib.tasks.params import Recipe
from ticketlib.tickets.results import ROW_COLUMNS
from ticketlib.tickets.ticket import ticket_runs


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path)  # (store, reports)


def test_the_last_study_is_read_from_runs_json(study, tmp_path, monkeypatch):
    store, reports = study
    chosen = select_runs("", reports=reports)
    assert "the last study (profile 'fake'" in chosen.source and chosen.tasks == sorted(TASKS)
    assert len(chosen.folders) == len(TASKS) + 1 and set(chosen.tickets()) == set(TASKS)  # + the baselines
    assert set(chosen.rows()["experiment"]) == {"find_tickets", "baselines"}
    assert select_runs(str(reports)).folders == chosen.folders  # a reports folder
    assert select_runs(str(reports / "runs.json")).folders == chosen.folders
    assert select_runs(str(store)).folders == sorted(chosen.folders)  # a store: every run folder below
    assert select_runs([chosen.folders[0]]).folders == chosen.folders[:1]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        select_runs(str(tmp_path / "nowhere"))


def test_the_store_default_of_ticket_runs_is_the_store_selections_tickets(study, monkeypatch):
    store, _ = study
    monkeypatch.setenv("TICKETLIB_RUNS", str(store))
    partial = store / "find_tickets" / "rt-sentiment-000000000009.partial"
    own = store / "find_tickets" / f"rt-sentiment-{TASKS['rt-sentiment']:012d}"
    shutil.copytree(own, partial)  # a sweep run in progress
    expected = {task: store / "find_tickets" / f"{task}-{seed:012d}" for task, seed in TASKS.items()}
    assert ticket_runs() == select_runs("store").tickets() == expected
    assert partial not in select_runs("store").folders


def test_without_a_study_the_stores_runs_are_read_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETLIB_RUNS", str(tmp_path / "store"))
    chosen = select_runs("", reports=tmp_path / "no-reports")
    assert chosen.folders == [] and "No study found" in chosen.note and "scripts/study.sh" in chosen.note
    rows = chosen.rows()
    assert list(rows.columns) == ROW_COLUMNS and not len(rows)  # empty, with its columns: no KeyError later
    assert chosen.tickets() == {}
    assert select_runs("store").source.startswith("the run store")


def test_ensure_ticket_trains_only_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETLIB_RUNS", str(tmp_path / "store"))
    with pytest.raises(FileNotFoundError) as error:
        ensure_ticket(Recipe(task="rt-sentiment"))
    message = str(error.value)
    assert "no ticket for this recipe" in message and "train_ticket = True" in message
    assert "Tickets in" in message or "No tickets in" in message
    assert not (tmp_path / "store").exists()  # nothing trained, nothing written


def test_tickets_listing_names_each_ticket_with_its_levels(study):
    store, reports = study
    text = tickets_listing(str(reports))
    assert [line for line in text.splitlines() if ": levels " in line] == [
        f"  {task}: levels {list(SPARSITY)}, {store / 'find_tickets' / f'{task}-{seed:012d}'}"
        for task, seed in TASKS.items()
    ]


def test_static_view_shows_every_part_for_the_default_selection(study, capsys, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    view = explore.Explorer(str(study[1]))
    assert view.show(interactive=True) is None  # no frontend here: static
    out = capsys.readouterr().out
    assert "(static view: no Jupyter frontend" in out
    assert "encoder.layer.1" in out and "random_pruning" in out  # layers, metrics against the baselines
    summary = view.summary()
    assert (
        f"selected: rt-sentiment: find_tickets/rt-sentiment-{TASKS['rt-sentiment']:012d}, "
        f"level {max(SPARSITY)} of {list(SPARSITY)}"
    ) in summary  # the highest level by default
    assert "compared with: squad-qnli" in summary  # another task's ticket by default


def test_metrics_table_against_the_full_model(study):
    rows = select_runs(str(study[1])).rows()
    sparsity = SPARSITY[BASELINE_LEVEL]
    table = explore.metrics_table(rows, "rt-sentiment", sparsity).set_index(["experiment", "method"])
    seed_shift = SEED_STEP * sum(BASELINE_SEEDS) / len(BASELINE_SEEDS)  # each seed adds SEED_STEP
    assert table.loc[("baselines", "full"), "mean"] == pytest.approx(FULL + seed_shift)
    assert table.loc[("baselines", "random_pruning"), "vs full"] == pytest.approx(BASELINES["random_pruning"] - FULL)
    assert table.loc[("baselines", "imp"), "seeds"] == len(BASELINE_SEEDS)
    assert explore.metrics_table(rows.iloc[:0], "rt-sentiment", sparsity).empty
    assert explore.metrics_table(pd.DataFrame(columns=ROW_COLUMNS), "mnli", sparsity).empty


def test_widget_path_redraws_on_a_new_choice(study, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "06_explore.ipynb")
    view = explore.Explorer(str(study[1]), level=1)
    box = view.show(interactive=True)
    pick, level, compare = box.children[1:4]
    assert view.level == 1 and list(level.options) == list(SPARSITY)
    pick.value = [label for label in view.sources if label.startswith("squad-qnli")][0]
    assert view.tasks[view.label] == "squad-qnli" and view.level == max(SPARSITY)  # a new ticket: its highest level
    level.value = 0
    assert view.level == 0 and view.ticket.sparsity == SPARSITY[0]
    compare.value = explore.RANDOM
    assert view.other()[1] == explore.RANDOM
    assert view.show(interactive=False) is None  # interactive=False: static even with a frontend


def test_without_ipywidgets_the_view_is_static(study, capsys, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "06_explore.ipynb")
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails as if not installed
    assert explore.Explorer(str(study[1])).show(interactive=True) is None
    assert "(static view: ipywidgets is not installed)" in capsys.readouterr().out


def test_bad_choices_say_what_exists(study, tmp_path):
    with pytest.raises(ValueError, match="tasks with tickets: rt-sentiment, squad-qnli"):
        explore.Explorer(str(study[1]), task="mnli")
    with pytest.raises(ValueError, match="neither a task"):
        explore.Explorer(str(study[1]), compare_with="mnli")
    with pytest.raises(ValueError, match="level 7 is not finished"):
        explore.Explorer(str(study[1]), level=7)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        explore.Explorer(str(study[1]), ticket=tmp_path / "nowhere")


def test_a_mask_file_as_the_ticket(study):
    store, reports = study
    mask = next(store.glob("find_tickets/squad-qnli-*/imp/level_01/mask.safetensors"))
    view = explore.Explorer(str(reports), ticket=mask, compare_with="rt-sentiment")
    assert view.label.startswith("squad-qnli: mask file") and view.level == 1
    assert view.other()[1].startswith("rt-sentiment") and "level 1" in view.other()[1]


def test_no_tickets_is_a_message_not_a_crash(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TICKETLIB_RUNS", str(tmp_path / "store"))
    view = explore.Explorer("", reports=tmp_path / "no-reports")
    assert view.source is None and view.summary().startswith("No ticket to explore")
    view.show(interactive=True)
    assert "No study found" in capsys.readouterr().out
