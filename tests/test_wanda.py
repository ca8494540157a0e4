"""Wanda: |W| x input-feature L2 norm, pruned per output row; a hand-computed example."""

import math

import pytest
import torch
from conftest import synthetic_features, tiny_model
from torch import nn

from ticketlib.core.prunable import prunable_parameters
from ticketlib.core.wanda import (
    calibration_batches,
    collect_input_norms,
    input_norms,
    prune_per_row,
    wanda_mask,
    wanda_scores,
)


def hand_linear():
    linear = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, -2.0, 3.0], [4.0, 0.5, -1.0]]))
    return linear


def test_hand_computed_example():
    linear = hand_linear()
    # two sequences of 2 tokens; the second sequence's last token is padding (huge, must not count)
    x = torch.tensor([[[3.0, 1.0, 0.0], [4.0, 0.0, 0.0]], [[0.0, 0.0, 2.0], [100.0, 100.0, 100.0]]])
    batch = {"x": x, "attention_mask": torch.tensor([[1, 1], [1, 0]])}
    norms = collect_input_norms({"w": linear}, lambda b: linear(b["x"]), [batch])
    # column norms over the 3 real tokens: sqrt(9 + 16) = 5, sqrt(1) = 1, sqrt(4) = 2
    assert torch.equal(norms["w"], torch.tensor([5.0, 1.0, 2.0]))
    scores = wanda_scores({"w": linear.weight}, norms)
    assert torch.equal(scores["w"], torch.tensor([[5.0, 2.0, 6.0], [20.0, 0.5, 2.0]]))
    # 1/3: each row loses its lowest score, column 1 in both rows (magnitude would drop row 0's column 0)
    assert prune_per_row(scores, 1 / 3)["w"].tolist() == [[True, False, True], [True, False, True]]
    # 2/3: row 0 keeps column 2 (score 6), row 1 keeps column 0 (score 20)
    assert prune_per_row(scores, 2 / 3)["w"].tolist() == [[False, False, True], [True, False, False]]
    # 1/2 of 6 = 3: one per row, and one more in the row whose second-lowest score is smaller (row 1: 2 < 5)
    assert prune_per_row(scores, 1 / 2)["w"].tolist() == [[True, False, True], [True, False, False]]
    # with padding counted, the norms change: sqrt(25 + 10000), ...
    padded = collect_input_norms({"w": linear}, lambda b: linear(b["x"]), [batch], count_padding=True)
    assert padded["w"][0].item() == pytest.approx(math.sqrt(25 + 100**2))


def test_ties_break_by_column_and_every_row_has_the_same_count():
    scores = {"w": torch.tensor([[1.0, 1.0, 1.0, 1.0], [4.0, 3.0, 2.0, 1.0]])}
    assert prune_per_row(scores, 0.5)["w"].tolist() == [[False, False, True, True], [True, True, False, False]]
    model = tiny_model()
    batches = calibration_batches(synthetic_features(40), batch_size=16, max_batches=2)
    assert len(batches) == 2
    mask = wanda_mask(model, batches, 0.3)
    for key, keep in mask.items():
        per_row, k = (~keep).sum(dim=1), round(0.3 * keep.numel()) // keep.shape[0]
        assert int(per_row.sum()) == round(0.3 * keep.numel()), key
        assert ((per_row == k) | (per_row == k + 1)).all(), key


def test_hooks_see_what_the_model_computes():
    """The pooler's input norms equal the norm of the [CLS] states the encoder outputs."""
    model = tiny_model()
    batches = calibration_batches(synthetic_features(20), batch_size=8, max_batches=3)
    norms = input_norms(model, batches)
    assert set(norms) == set(prunable_parameters(model))
    with torch.no_grad():
        cls = torch.cat([model.bert(**b).last_hidden_state[:, 0] for b in batches])
    assert torch.allclose(norms["pooler.dense.weight"], cls.norm(dim=0), rtol=1e-5)
    with pytest.raises(ValueError, match="at least one"):
        input_norms(model, [])
    with pytest.raises(ValueError, match="sparsity"):
        wanda_mask(model, batches, 1.0)


@pytest.mark.slow
def test_wanda_baseline_trains_at_the_tickets_sparsity():
    """The "wanda" method of the baselines experiment: a Wanda mask of theta_0 (MiniLM,
    calibrated on rt-sentiment's training features) at the ticket's sparsity, fine-tuned."""
    from ticketlib.core.imp import one_shot_magnitude_mask
    from ticketlib.core.masks import sparsity
    from ticketlib.study import experiments as ex
    from ticketlib.study.subnetworks import train_method
    from ticketlib.tasks.params import Recipe
    from ticketlib.tasks.run_inputs import fresh_model, load_data

    assert "wanda" in ex.METHODS and "wanda" in ex.METHOD_TITLES
    recipe = Recipe(max_train_examples=64, max_eval_examples=32, max_steps=2)
    loaded = load_data(recipe)
    model, _ = fresh_model(recipe)
    ticket = one_shot_magnitude_mask(model, 0.3, spec=recipe.prune_config().spec())
    result = train_method(loaded, "wanda", ticket, 1, seed=0)
    assert result["sparsity"] == pytest.approx(sparsity(ticket), abs=1e-6)
    assert result["steps"] == 2 and "accuracy" in result["metrics"]
