import pytest
import torch
from conftest import tiny_model

from ticketlib.core.masker import Masker
from ticketlib.core.masks import magnitude_prune
from ticketlib.core.prunable import prunable_parameters, prunable_state
from ticketlib.core.rewind import base_snapshot, head_parameters, head_snapshot, reset_head, rewind


def scramble(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))


def test_rewound_weights_equal_theta0_bit_for_bit_and_mask_is_reapplied():
    model = tiny_model()
    theta0 = base_snapshot(model)
    mask = magnitude_prune(prunable_state(model), 0.5)
    masker = Masker(model, mask)
    scramble(model)
    rewind(model, theta0, masker)
    state = model.bert.state_dict()
    params = prunable_parameters(model)
    for name, value in theta0.items():
        key = name
        if key in mask:
            assert torch.equal(state[name], value * mask[key]), name
            assert torch.equal(state[name][mask[key]], value[mask[key]])  # kept: bit for bit theta_0
        else:
            assert torch.equal(state[name], value), name  # embeddings, LayerNorm, biases, pooler bias
    assert masker.pruned_are_zero() and set(mask) <= set(params)


def test_rewind_refuses_a_snapshot_of_another_model():
    with pytest.raises(ValueError, match="snapshot lacks"):
        rewind(tiny_model(layers=3), base_snapshot(tiny_model(layers=2)))


def test_head_policies():
    model = tiny_model()
    initial = head_snapshot(model)
    scramble(model)
    trained = head_snapshot(model)
    reset_head(model, "keep", seed=1)
    assert all(torch.equal(trained[k], v) for k, v in head_snapshot(model).items())
    reset_head(model, "rewind", seed=1, initial_head=initial)
    assert all(torch.equal(initial[k], v) for k, v in head_snapshot(model).items())
    reset_head(model, "reinit", seed=1)
    first = head_snapshot(model)
    reset_head(model, "reinit", seed=1)
    assert all(torch.equal(first[k], v) for k, v in head_snapshot(model).items()), "seeded"
    reset_head(model, "reinit", seed=2)
    assert not torch.equal(first["classifier.weight"], model.classifier.weight)
    assert torch.all(model.classifier.bias == 0)
    assert abs(float(model.classifier.weight.detach().std()) - 0.02) < 0.01
    with pytest.raises(ValueError, match="head policy"):
        reset_head(model, "zero", seed=1)


def test_mlm_head_reinit_leaves_tied_embeddings_alone():
    model = tiny_model("mlm")
    embeddings = model.bert.embeddings.word_embeddings.weight.detach().clone()
    names = set(head_parameters(model))
    assert "cls.predictions.decoder.weight" not in names and "cls.predictions.transform.dense.weight" in names
    reset_head(model, "reinit", seed=0)
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, embeddings)
    assert torch.all(model.cls.predictions.transform.LayerNorm.weight == 1)
