"""Structured masks: units <-> weight masks, ranking, counts, nesting, collapse, metadata."""

import warnings

import pytest
import torch
from conftest import tiny_model

from ticketlib.core.config import PrunableSet, Schedule
from ticketlib.core.mask_io import load_mask, save_mask
from ticketlib.core.masks import sparsity
from ticketlib.core.prunable import prunable_parameters
from ticketlib.core.structured import coverage, layout, level_target, prune, structured_prune
from ticketlib.core.units import Units, expand, is_structured, unit_metadata, units_from_mask, units_from_metadata

SPEC = PrunableSet()


def pruned(mask):
    return sum(int((~m).sum()) for m in mask.values())


def test_expansion_zeroes_exactly_the_rows_and_columns_of_a_unit():
    model = tiny_model()  # 2 layers, hidden 32, 2 heads of 16, 64 neurons
    units = Units.full(layout(model))
    units.heads[1][0] = False
    units.neurons[0][5] = False
    mask = expand(units, model)
    q = mask["encoder.layer.1.attention.self.query.weight"]
    assert not q[:16].any() and q[16:].all()
    for name in ("key", "value"):
        assert torch.equal(mask[f"encoder.layer.1.attention.self.{name}.weight"], q)
    o = mask["encoder.layer.1.attention.output.dense.weight"]
    assert not o[:, :16].any() and o[:, 16:].all()
    assert not mask["encoder.layer.0.intermediate.dense.weight"][5].any()
    assert not mask["encoder.layer.0.output.dense.weight"][:, 5].any()
    assert pruned(mask) == 4 * 16 * 32 + 2 * 32
    assert mask["pooler.dense.weight"].all()
    assert units_from_mask(mask, model) == units
    assert is_structured(mask, model)
    mask["encoder.layer.0.attention.self.query.weight"][0, 0] = False
    assert not is_structured(mask, model)


def test_magnitude_ranking_removes_the_head_with_the_smallest_mean_weight():
    model = tiny_model()
    with torch.no_grad():
        for name in ("query", "key", "value"):
            getattr(model.bert.encoder.layer[1].attention.self, name).weight[16:] *= 0.01
    total = sum(p.numel() for p in prunable_parameters(model).values())
    mask = structured_prune(model, 4 * 16 * 32 / total, "heads")
    units = units_from_mask(mask, model)
    assert units.heads[1].tolist() == [True, False] and units.heads[0].all()
    assert all(n.all() for n in units.neurons)


def test_mean_abs_score_normalises_heads_against_neurons():
    model = tiny_model()
    with torch.no_grad():  # head weights 1, neuron weights 2 (layer 0), 3 elsewhere
        for p in prunable_parameters(model).values():
            p.fill_(3.0)
        for name in ("query", "key", "value"):
            getattr(model.bert.encoder.layer[0].attention.self, name).weight.fill_(1.0)
        model.bert.encoder.layer[0].attention.output.dense.weight.fill_(1.0)
        model.bert.encoder.layer[0].intermediate.dense.weight.fill_(2.0)
        model.bert.encoder.layer[0].output.dense.weight.fill_(2.0)
    total = sum(p.numel() for p in prunable_parameters(model).values())
    # the two heads of layer 0 (mean 1) go before any neuron (mean 2); then 3 neurons of layer 0
    mask = structured_prune(model, (2 * 4 * 16 * 32 + 3 * 64) / total, "heads+neurons")
    units = units_from_mask(mask, model)
    assert not units.heads[0].any() and units.heads[1].all()
    assert units.neurons[0].tolist() == [False] * 3 + [True] * 61 and units.neurons[1].all()


@pytest.mark.parametrize("granularity", ["heads", "neurons", "heads+neurons"])
def test_pruned_count_is_the_closest_reachable_and_units_are_whole(granularity):
    model = tiny_model()
    total = sum(p.numel() for p in prunable_parameters(model).values())
    for target in (0.05, 0.1, 0.2, 0.3):
        if target > coverage(model, granularity):
            continue
        mask = structured_prune(model, target, granularity)
        assert is_structured(mask, model)
        if granularity != "heads+neurons":  # equal-size units: the nearest multiple
            unit = 4 * 16 * 32 if granularity == "heads" else 2 * 32
            assert pruned(mask) == unit * round(target * total / unit - 1e-9)


def test_coverage_and_level_target():
    model = tiny_model()
    attention, ffn = 4 * 32 * 32, 2 * 32 * 64
    total = 2 * (attention + ffn) + 32 * 32
    assert coverage(model, "heads") == 2 * attention / total
    assert coverage(model, "neurons") == 2 * ffn / total
    assert coverage(model, "heads+neurons") == 2 * (attention + ffn) / total
    assert level_target(model, "weights", 0.2) == 0.2
    assert level_target(model, "neurons", 0.5) == 0.5 * 2 * ffn / total
    with pytest.raises(ValueError, match="at most"):
        structured_prune(model, 0.5, "heads")


def test_nested_levels_on_the_paper_schedule_and_nesting_is_enforced():
    model = tiny_model()
    schedule = Schedule("paper", 0.1)
    mask = None
    for level in range(1, 9):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            new = structured_prune(
                model, level_target(model, "neurons", schedule.sparsity(level)), "neurons", current=mask
            )
        if mask is not None:
            assert all(bool((new[k] <= mask[k]).all()) for k in mask)
        assert sum(int((~u).sum()) for u in units_from_mask(new, model).neurons) == round(level * 0.1 * 128)
        with torch.no_grad():
            for p in prunable_parameters(model).values():
                p.add_(0.01 * torch.randn_like(p))
        mask = new
    with pytest.raises(ValueError, match="nested"):
        structured_prune(model, 0.01, "neurons", current=mask)
    with pytest.raises(ValueError, match="outside whole units"):
        unstructured = {k: v.clone() for k, v in mask.items()}
        unstructured["pooler.dense.weight"][0, 0] = False
        structured_prune(model, 0.5, "neurons", current=unstructured)


def test_layerwise_prunes_each_layer_to_the_same_fraction():
    model = tiny_model()
    mask = structured_prune(model, level_target(model, "neurons", 0.25), "neurons", scope="layerwise")
    assert [int((~n).sum()) for n in units_from_mask(mask, model).neurons] == [16, 16]


def test_random_units_are_seeded_and_have_the_same_count():
    model = tiny_model()
    a = prune(model, 0.2, "neurons", criterion="random", seed=1)
    b = prune(model, 0.2, "neurons", criterion="random", seed=1)
    c = prune(model, 0.2, "neurons", criterion="random", seed=2)
    m = prune(model, 0.2, "neurons")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert pruned(a) == pruned(c) == pruned(m)
    assert is_structured(a, model)


def test_dispatcher_keeps_unstructured_pruning_unchanged():
    from ticketlib.core.masks import magnitude_prune, random_prune
    from ticketlib.core.prunable import prunable_state

    model = tiny_model()
    a, b = prune(model, 0.3), magnitude_prune(prunable_state(model), 0.3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    a, b = prune(model, 0.3, criterion="random", seed=4), random_prune(prunable_parameters(model), 0.3, 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="granularity"):
        prune(model, 0.3, "blocks")
    with pytest.raises(ValueError, match="criterion"):
        prune(model, 0.3, "heads", criterion="taylor")


def test_layer_collapse_warns():
    model = tiny_model()
    with torch.no_grad():
        for name in ("query", "key", "value"):
            getattr(model.bert.encoder.layer[0].attention.self, name).weight.mul_(0.001)
    total = sum(p.numel() for p in prunable_parameters(model).values())
    with pytest.warns(UserWarning, match=r"LAYER COLLAPSE: every head of encoder layer\(s\) \[0\]"):
        structured_prune(model, 2 * 4 * 16 * 32 / total, "heads")


def test_unit_mask_goes_into_the_mask_file_metadata(tmp_path):
    model = tiny_model()
    mask = prune(model, 0.1, "heads+neurons")
    save_mask(tmp_path / "m.safetensors", mask, **unit_metadata(mask, model, "heads+neurons"))
    loaded, meta = load_mask(tmp_path / "m.safetensors")
    assert meta["granularity"] == "heads+neurons"
    assert units_from_metadata(meta) == units_from_mask(mask, model)
    expanded = expand(units_from_metadata(meta), model)
    assert expanded.keys() == loaded.keys() and all(torch.equal(expanded[k], loaded[k]) for k in loaded)
    assert unit_metadata(mask, model, "weights") == {}
    assert sparsity(loaded) == sparsity(mask)


def test_structured_imp_run_and_baselines(tmp_path, features):
    from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig
    from ticketlib.core.imp import imp_mask, one_shot_magnitude_mask, random_mask, run_imp

    model = tiny_model()
    config = IMPConfig(
        prune=PruneConfig(levels=2, rate=0.25, granularity="heads+neurons"),
        train=TrainConfig(learning_rate=1e-3, max_steps=3, batch_size=16, progress=False),
    )
    rows = run_imp(model, features, None, config, tmp_path / "run")
    covered = coverage(model, "heads+neurons")
    previous = None
    for level, row in enumerate(rows):
        mask, meta = imp_mask(tmp_path / "run", level)
        assert row["target_sparsity"] == pytest.approx(0.25 * level * covered)
        assert abs(row["sparsity"] - row["target_sparsity"]) < 4 * 16 * 32 / 2 / sum(m.numel() for m in mask.values())
        assert is_structured(mask, model)
        if level:
            assert meta["granularity"] == "heads+neurons"
            assert units_from_metadata(meta) == units_from_mask(mask, model)
            assert all(bool((mask[k] <= previous[k]).all()) for k in mask)
        previous = mask
    with pytest.raises(ValueError, match="granularity"):
        PruneConfig(granularity="rows")
    target = rows[-1]["sparsity"]
    omp = one_shot_magnitude_mask(model, target, granularity="neurons")
    rnd = random_mask(model, target, seed=3, granularity="neurons")
    assert is_structured(omp, model) and is_structured(rnd, model)
    assert pruned(omp) == pruned(rnd)
    assert all(bool(u.all()) for u in units_from_mask(rnd, model).heads)
