"""The experiments API on the real offline model, sliced to one layer, with a few dozen examples
and a few steps: rows, artifacts, resuming, tickets, baselines at equal sparsity, transfer from
MLM, rewinding, and reading results back."""

from __future__ import annotations

import pandas as pd
import pytest

from ticketlib.study import experiments as ex
from ticketlib.tasks.params import Recipe
from ticketlib.tasks.run_inputs import load_data
from ticketlib.tickets.results import ROW_COLUMNS

pytestmark = pytest.mark.slow

TINY = dict(
    num_layers=1,
    max_train_examples=24,
    max_eval_examples=24,
    batch_size=8,
    max_steps=2,
    levels=1,
    rate=0.3,
    include_pooler=False,
    threads=1,
)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("TICKETLIB_RUNS", str(tmp_path / "store"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    return tmp_path / "store"


@pytest.fixture
def recipe():
    return Recipe(task="rt-sentiment", **TINY)


def test_find_tickets_rows_artifacts_and_resume(store, recipe, tmp_path):
    rows = ex.find_tickets(recipe, tmp_path / "run", run_id="abc")
    assert list(rows.columns[: len(ROW_COLUMNS)]) == ROW_COLUMNS
    imp = rows[rows["method"] == "imp"]
    assert sorted(imp["level"].unique()) == [0, 1]
    assert imp.loc[imp["level"] == 1, "sparsity"].iloc[0] == pytest.approx(0.3, abs=1e-6)
    # the task's no-signal score on this eval data: the majority class's share of the eval labels
    no_signal = rows[rows["method"] == "no_signal"]
    labels = load_data(recipe).data.eval_sets
    labels = [f["labels"] for features in labels.values() for f in features]
    majority = max(labels.count(0), labels.count(1)) / len(labels)
    assert list(no_signal["metric"]) == ["accuracy"] and no_signal["value"].iloc[0] == pytest.approx(majority)
    assert set(rows["run_id"]) == {"abc"} and set(rows["experiment"]) == {"find_tickets"}
    assert (tmp_path / "run" / "rows.csv").is_file() and (tmp_path / "run" / "run.json").is_file()
    assert (tmp_path / "run" / "imp" / "level_01" / "mask.safetensors").is_file()
    again = ex.find_tickets(recipe, tmp_path / "run", run_id="abc")  # finished: nothing retrained
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), again.reset_index(drop=True))

    ticket = ex.load_ticket(tmp_path / "run")
    assert ticket.level == 1 and ticket.sparsity == pytest.approx(0.3, abs=1e-6)
    from_file = ex.load_ticket(ticket.path)
    assert from_file.level == 1 and from_file.overlap(ticket) == 1.0
    assert list(ticket.layers()["name"]) == ["encoder.layer.0"]
    assert set(ticket.matrices()["matrix"]) >= {"attention.self.query", "output.dense"}
    with pytest.raises(ValueError, match="level 5"):
        ex.load_ticket(tmp_path / "run", 5)
    assert ex.ticket_runs([tmp_path / "run"]) == {"rt-sentiment": tmp_path / "run"}


def test_hand_runs_share_tickets_through_the_manual_store(store, recipe):
    with pytest.raises(FileNotFoundError, match="train_ticket = True"):  # trains only on request
        ex.ensure_ticket(recipe)
    assert not (store / "find_tickets").exists()
    folder = ex.ensure_ticket(recipe, train_if_missing=True)  # computed
    assert folder.parent == store / "find_tickets"
    assert ex.ensure_ticket(recipe) == folder  # found again, same recipe
    with pytest.raises(FileNotFoundError, match="no ticket for this recipe"):  # another recipe: not this ticket
        ex.ensure_ticket(recipe.replace(seed=1))
    assert ex.resolve_run_dir(None, "find_tickets", recipe.replace(seed=1)) != folder
    with pytest.raises(FileNotFoundError):
        ex.ensure_ticket(recipe, store / "nowhere")


def test_baselines_share_the_tickets_sparsity_and_resume(store, recipe, tmp_path):
    ticket = ex.ensure_ticket(recipe, train_if_missing=True)
    rows = ex.evaluate_subnetworks(recipe, ticket, at_levels=[1], seeds=[0], run_dir=tmp_path / "b")
    assert set(rows["method"]) == set(ex.METHODS)
    pruned = rows[rows["method"] != "full"]
    assert pruned["sparsity"].max() - pruned["sparsity"].min() < 1e-6
    assert rows.loc[rows["method"] == "full", "sparsity"].iloc[0] == 0.0
    assert len(list((tmp_path / "b" / "cells").glob("*.json"))) == len(ex.METHODS)
    again = ex.evaluate_subnetworks(recipe, ticket, at_levels=[1], seeds=[0], run_dir=tmp_path / "b")
    pd.testing.assert_frame_equal(rows, again)
    with pytest.raises(ValueError, match="'magic'"):
        ex.evaluate_subnetworks(recipe, ticket, methods=["magic"], run_dir=tmp_path / "c")


def test_transfer_from_an_mlm_mask(store, recipe, tmp_path):
    rows = ex.transfer(
        recipe,
        "wiki-mlm",
        at_levels=[1],
        seeds=[0],
        source_params={"max_length": 32},
        run_dir=tmp_path / "t",
        train_ticket=True,
    )
    assert set(rows["source_task"]) == {"wiki-mlm"} and set(rows["task"]) == {"rt-sentiment"}
    assert rows["sparsity"].iloc[0] == pytest.approx(0.3, abs=1e-6)
    assert (store / "find_tickets").is_dir()  # the source ticket was made by hand


def test_rewinding_reuses_theta0_levels_of_a_matching_ticket(store, recipe, tmp_path):
    ticket = ex.ensure_ticket(recipe, train_if_missing=True)
    rows = ex.rewinding(recipe, [0, 1], ticket, run_dir=tmp_path / "r")
    assert sorted(rows["rewind_step"].unique()) == [0, 1]
    assert not (tmp_path / "r" / "rewind_0").exists()  # theta_0 came from the ticket
    assert (tmp_path / "r" / "rewind_1" / "theta_i.safetensors").is_file()
    collected = ex.collect_rows([tmp_path / "r", ticket])
    assert set(collected["experiment"]) == {"rewinding", "find_tickets"}
