"""Shrink: the shrunk model computes the masked model's logits; save/load round trip."""

import copy
import warnings

import pytest
import torch
from conftest import synthetic_features, tiny_model
from safetensors.torch import load_file

from ticketlib.core.config import PrunableSet
from ticketlib.core.prunable import prunable_parameters
from ticketlib.core.shrink import WEIGHTS_FILE, load_shrunk, save_shrunk, shrink, shrink_record
from ticketlib.core.structured import layout, structured_prune
from ticketlib.core.units import Units, expand


def batch(features):
    width = max(len(f["input_ids"]) for f in features)
    pad = lambda key: torch.tensor([f[key] + [0] * (width - len(f[key])) for f in features])  # noqa: E731
    return {k: pad(k) for k in ("input_ids", "attention_mask", "token_type_ids")}


def masked(model, mask):
    model = copy.deepcopy(model)
    with torch.no_grad():
        for key, param in prunable_parameters(model).items():
            param.mul_(mask[key])
    return model


def random_biases(model):
    with torch.no_grad():  # pruned units keep non-zero biases: the shrink must still be exact
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0, 0.5)
    return model


def test_shrunk_tiny_model_gives_the_masked_logits_and_drops_the_units():
    model = random_biases(tiny_model(layers=3, hidden=64))  # 2 heads of 32, 128 neurons per layer
    units = Units.full(layout(model))
    units.heads[0][1] = False
    units.heads[2][:] = False  # a collapsed layer: one null head is kept
    units.neurons[1][::3] = False
    units.neurons[2][:] = False
    mask = expand(units, model)
    reference = masked(model, mask)
    shrunk = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = shrink(shrunk, mask=mask)
    assert record["num_attention_heads"] == [1, 2, 1]
    assert record["intermediate_sizes"] == [128, 128 - 43, 1]
    assert record["null_units"] == {"heads": [2], "neurons": [2]}
    layer0 = shrunk.bert.encoder.layer[0]
    assert layer0.attention.self.query.weight.shape == (32, 64)
    assert layer0.attention.output.dense.weight.shape == (64, 32)
    assert layer0.attention.self.all_head_size == 32
    assert torch.equal(layer0.attention.self.query.weight, model.bert.encoder.layer[0].attention.self.query.weight[:32])
    inputs = batch(synthetic_features(8, seed=3))
    with torch.no_grad():
        expected, got = reference(**inputs).logits, shrunk(**inputs).logits
    assert (expected - got).abs().max() < 1e-5
    # the unpruned model differs: the test can fail
    with torch.no_grad():
        assert (model(**inputs).logits - got).abs().max() > 1e-3
    assert sum(p.numel() for p in shrunk.parameters()) < sum(p.numel() for p in model.parameters())


def test_shrink_of_a_structured_mask_found_by_pruning():
    model = random_biases(tiny_model())
    mask = structured_prune(model, 0.3, "heads+neurons")
    shrunk = copy.deepcopy(model)
    shrink(shrunk, mask=mask)
    inputs = batch(synthetic_features(8, seed=4))
    with torch.no_grad():
        assert (masked(model, mask)(**inputs).logits - shrunk(**inputs).logits).abs().max() < 1e-5


def test_save_and_load_round_trip_bit_for_bit(tmp_path):
    model = random_biases(tiny_model())
    units = Units.full(layout(model))
    units.heads[1][0] = False
    units.neurons[0][:40] = False
    shrink(model, units=units)
    save_shrunk(model, tmp_path / "shrunk")
    loaded = load_shrunk(tmp_path / "shrunk")
    assert shrink_record(loaded) == shrink_record(model)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    inputs = batch(synthetic_features(4, seed=5))
    with torch.no_grad():
        assert torch.equal(model.eval()(**inputs).logits, loaded(**inputs).logits)
    assert load_file(str(tmp_path / "shrunk" / WEIGHTS_FILE))[
        "bert.encoder.layer.0.intermediate.dense.weight"
    ].shape == (24, 32)


def test_a_base_model_without_pooler_shrinks_and_round_trips(tmp_path):
    """The encoder of a mean-pooled model (ticketlib.core.pooling): a BertModel built without pooler
    takes the task model's mask (keys are base-relative) and loads back without a pooler."""
    from conftest import tiny_config
    from transformers import BertModel

    torch.manual_seed(0)
    encoder = random_biases(BertModel(tiny_config(), add_pooling_layer=False).eval())
    units = Units.full(layout(encoder))
    units.heads[0][0] = False
    units.neurons[1][:20] = False
    mask = expand(units, tiny_model())  # the classification model's mask, pooler entry included
    reference = masked(encoder, {k: v for k, v in mask.items() if not k.startswith("pooler.")})
    record = shrink(encoder, mask=mask)
    assert record["num_attention_heads"] == [1, 2] and record["intermediate_sizes"] == [64, 44]
    save_shrunk(encoder, tmp_path / "shrunk", record)
    loaded = load_shrunk(tmp_path / "shrunk")
    assert type(loaded) is BertModel and loaded.pooler is None
    inputs = batch(synthetic_features(4, seed=6))
    with torch.no_grad():
        got = loaded(**inputs).last_hidden_state
        assert torch.equal(encoder(**inputs).last_hidden_state, got)
        assert (reference(**inputs).last_hidden_state - got).abs().max() < 1e-5


def test_bad_input_is_refused(tmp_path):
    model = tiny_model()
    with pytest.raises(ValueError, match="exactly one"):
        shrink(model)
    with pytest.raises(ValueError, match="does not fit"):
        shrink(model, units=Units.full(layout(tiny_model(hidden=64))))
    with pytest.raises(FileNotFoundError, match="shrink.json"):
        load_shrunk(tmp_path)


@pytest.mark.slow
def test_shrunk_minilm_matches_the_masked_model_on_real_sentences():
    from ticketlib.tasks.data import load_task_data
    from ticketlib.tasks.models import load_model

    model, tokenizer, _ = load_model("offline-minilm", "rt-sentiment", seed=0)
    data = load_task_data("rt-sentiment", "offline", tokenizer, max_train_examples=8, max_eval_examples=16)
    spec = PrunableSet(include_pooler=False)
    # some heads, then (nested) neurons: mean-|w| ranks MiniLM's neurons below its heads
    mask = structured_prune(model, 0.15, "heads", spec=spec)
    mask = structured_prune(model, 0.5, "heads+neurons", spec=spec, current=mask)
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for key, param in prunable_parameters(reference, spec).items():
            param.mul_(mask[key])
    shrunk = copy.deepcopy(model)
    record = shrink(shrunk, mask=mask, spec=spec)
    assert sum(record["num_attention_heads"]) < 6 * 12 and sum(record["intermediate_sizes"]) < 6 * 1536
    features = data.eval_features
    inputs = batch([{k: f[k] for k in ("input_ids", "attention_mask", "token_type_ids")} for f in features])
    with torch.no_grad():
        expected, got = reference(**inputs).logits, shrunk(**inputs).logits
    assert (expected - got).abs().max() < 1e-5
