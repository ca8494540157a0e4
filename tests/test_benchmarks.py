"""Quick checks of the benchmark code (tiny models; a few seconds)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from conftest import tiny_model

from ticketlib.core.config import PrunableSet
from ticketlib.core.imp import one_shot_magnitude_mask
from ticketlib.core.masker import Masker

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", [0.5, 0.9])
def test_sparse_paths_give_the_masked_models_outputs(target):
    bench = load("sparse_inference")
    model = tiny_model("cls", layers=2, hidden=32)
    mask = one_shot_magnitude_mask(model, target, PrunableSet(include_pooler=False))
    # Force dead FFN neurons of both kinds: an all-pruned input row and an all-pruned output column.
    mask["encoder.layer.0.intermediate.dense.weight"][3] = False
    mask["encoder.layer.1.output.dense.weight"][:, 5] = False
    Masker(model, mask, bench.SPEC).apply()
    x = {"input_ids": torch.randint(4, 64, (3, 9)), "attention_mask": torch.ones(3, 9, dtype=torch.long)}
    with torch.no_grad():
        reference = model(**x).logits
        shrunk, info = bench.shrink_ffn(model)
        assert info["ffn_neurons_kept"] <= info["ffn_neurons_total"] - 2
        torch.testing.assert_close(shrunk(**x).logits, reference, atol=1e-5, rtol=0)
        csr = bench.to_csr(model)
        assert any(isinstance(m, bench.CSRLinear) for m in csr.modules())
        torch.testing.assert_close(csr(**x).logits, reference, atol=1e-5, rtol=0)


def test_pad_to_max_length_pads_every_sequence_field():
    bench = load("training_speed")
    features = [{"input_ids": [2, 9, 3], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0], "labels": 1}]
    padded = bench.pad_to(features, 6, pad_token_id=0)[0]
    assert padded["input_ids"] == [2, 9, 3, 0, 0, 0] and padded["attention_mask"] == [1, 1, 1, 0, 0, 0]
    assert len(padded["token_type_ids"]) == 6 and padded["labels"] == 1


def test_prune_rounds_on_a_shared_model_leave_the_same_weight_tensors():
    """training_speed re-parametrises a shared model for a torch_prune round and restores it:
    the prune forward must use weight_orig * mask, and afterwards every parameter must be the
    same object with the same storage, the module free of prune's hooks and buffers."""
    bench = load("training_speed")
    model = tiny_model("cls", layers=2, hidden=32)
    mask = one_shot_magnitude_mask(model, 0.5, PrunableSet(include_pooler=False))
    before = dict(model.named_parameters())
    pointers = {k: p.data_ptr() for k, p in before.items()}
    ids = torch.arange(1, 9).unsqueeze(0)
    model.eval()
    dense_logits = model(input_ids=ids).logits
    bench.reparametrise(model, mask)
    pruned_logits = model(input_ids=ids).logits
    bench.restore_parameters(model, mask)
    after = dict(model.named_parameters())
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] and after[k].data_ptr() == pointers[k] for k in before)
    assert not any(name.endswith(("_orig", "_mask")) for name, _ in [*model.named_parameters(), *model.named_buffers()])
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert torch.equal(model(input_ids=ids).logits, dense_logits)  # restored: the unmasked weights
    Masker(model, mask, PrunableSet(include_pooler=False)).apply()
    assert torch.allclose(model(input_ids=ids).logits, pruned_logits, atol=1e-6)
