"""The budget probe (ticketlib.study.budget): exact where exact (no steps: no movement, overlap 1;
one tensor moved by a known amount), deterministic with a seed, and its dense run is the
baselines' full model bit for bit (slow: the real offline model, one layer)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import synthetic_features, tiny_model
from helpers import accuracy

from ticketlib.cli.main import main
from ticketlib.core.config import TrainConfig
from ticketlib.core.prunable import prunable_state
from ticketlib.study.budget import Budget, probe_model, relative_movement
from ticketlib.study.subnetworks import train_mask

TRAIN = TrainConfig(learning_rate=1e-3, max_steps=8, batch_size=16, seed=0, progress=False)


@pytest.fixture(scope="module")
def data():
    return synthetic_features(128, seed=0), synthetic_features(64, seed=1)


def test_relative_movement_by_hand():
    before = {"a": torch.tensor([3.0, 0.0]), "b": torch.tensor([[0.0, 4.0]])}
    after = {"a": torch.tensor([3.0, 3.0]), "b": torch.tensor([[0.0, 8.0]])}
    assert relative_movement(before, after) == 1.0  # sqrt(3^2 + 4^2) / sqrt(3^2 + 4^2)
    assert relative_movement(before, before) == 0.0


def test_no_steps_no_movement_and_identical_masks(data):
    train, dev = data
    model = tiny_model()
    before = prunable_state(model)
    probe = probe_model(model, train, accuracy(dev), None)
    assert probe["movement"] == 0.0 and probe["jaccard_theta0"] == 1.0 and probe["steps"] == 0
    assert all(torch.equal(before[k], v) for k, v in prunable_state(model).items())
    assert probe["metrics"] == accuracy(dev)(tiny_model())


def test_trained_probe_is_deterministic_with_a_seed(data):
    train, dev = data
    first, second = (probe_model(tiny_model(), train, accuracy(dev), TRAIN) for _ in range(2))
    timing = ("train_seconds", "seconds")
    assert {k: v for k, v in first.items() if k not in timing} == {k: v for k, v in second.items() if k not in timing}
    assert first["steps"] == 8 and first["movement"] > 0 and 0 < first["jaccard_theta0"] <= 1
    other = probe_model(tiny_model(), train, accuracy(dev), TrainConfig(**{**TRAIN.__dict__, "seed": 1}))
    assert other["movement"] != first["movement"]


def test_budget_parse_and_bad_input(tmp_path, capsys):
    assert Budget.parse("48x32", 1e-4) == Budget(48, 32, 1e-4)
    assert Budget.parse("0x8", 1e-4).steps == 0
    out = tmp_path / "probe.jsonl"
    for bad in (["--budgets", "48by32"], ["--budgets", "48x0"], ["--set", "no_such_field=1"]):
        assert main(["budget", "--task", "rt-sentiment", *bad, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
    assert not out.exists()


@pytest.mark.slow  # the real offline model sliced to one layer: three short fine-tunings
def test_dense_run_is_the_baselines_full_model_and_cells_are_not_redone(tmp_path, monkeypatch):
    from ticketlib.study.budget import budget_recipe, run_probe
    from ticketlib.tasks.params import Recipe
    from ticketlib.tasks.run_inputs import load_data

    monkeypatch.setenv("TQDM_DISABLE", "1")
    recipe = Recipe(
        task="rt-sentiment",
        num_layers=1,
        max_train_examples=24,
        max_eval_examples=24,
        batch_size=8,
        max_steps=3,
        levels=1,
        include_pooler=False,
        threads=1,
    )
    budget = Budget(3, 8, 1e-4)
    out = tmp_path / "probe.jsonl"
    table = run_probe(recipe, [budget, Budget(0, 8, 1e-4)], [0], out, log=lambda _: None)
    assert len(table) == 2 and (tmp_path / "probe.csv").is_file()
    row = json.loads(out.read_text().splitlines()[0])
    full = train_mask(load_data(budget_recipe(recipe, budget)), None, 0)  # the baselines' "full" method
    assert row["metrics"] == full["metrics"] and row["steps"] == full["steps"] == 3
    assert table.loc[1, "movement"] == 0.0 and table.loc[1, "jaccard_theta0"] == 1.0
    run_probe(recipe, [budget], [0], out, log=lambda _: pytest.fail("a measured cell ran again"))
    assert len(out.read_text().splitlines()) == 2
