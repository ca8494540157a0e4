import pytest
import torch
from conftest import tiny_model

from ticketlib.core.config import Schedule
from ticketlib.core.masks import (
    check_sparsity,
    full_mask,
    magnitude_prune,
    masks_overlap,
    random_prune,
    sparsity,
    sparsity_report,
)
from ticketlib.core.prunable import prunable_parameters, prunable_state


def pruned_count(mask):
    return sum(int((~m).sum()) for m in mask.values())


@pytest.mark.parametrize("target", [0.0, 0.1, 0.25, 0.333, 0.5, 0.9, 0.999])
def test_global_sparsity_is_exact_to_the_weight(target):
    weights = prunable_state(tiny_model())
    total = sum(w.numel() for w in weights.values())
    mask = magnitude_prune(weights, target)
    assert pruned_count(mask) == round(target * total)
    # every pruned weight is no larger than every kept one
    flat_w = torch.cat([w.abs().flatten() for w in weights.values()])
    flat_m = torch.cat([m.flatten() for m in mask.values()])
    if 0 < target:
        assert flat_w[~flat_m].max() <= flat_w[flat_m].min()


def test_layerwise_sparsity_is_exact_per_matrix():
    weights = prunable_state(tiny_model())
    mask = magnitude_prune(weights, 0.3, scope="layerwise")
    for key, w in weights.items():
        assert int((~mask[key]).sum()) == round(0.3 * w.numel())


def test_masks_are_nested_across_levels_of_both_schedules():
    model = tiny_model()
    for schedule in (Schedule("paper", 0.1), Schedule("fraction", 0.2)):
        mask = full_mask(prunable_parameters(model))
        for level in range(1, 6):
            # perturb the weights as training would, then prune further
            weights = {k: w + 0.01 * torch.randn_like(w) for k, w in prunable_state(model).items()}
            new = magnitude_prune(weights, schedule.sparsity(level), current=mask)
            assert all(bool((new[k] <= mask[k]).all()) for k in mask), "a pruned weight came back"
            assert abs(sparsity(new) - schedule.sparsity(level)) < 1e-3
            mask = new


def test_schedules():
    paper = Schedule()
    assert [paper.sparsity(k) for k in range(10)] == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    fraction = Schedule("fraction", 0.2)
    assert fraction.sparsity(1) == pytest.approx(0.2)
    assert fraction.sparsity(3) == pytest.approx(1 - 0.8**3)
    with pytest.raises(ValueError, match="schedule"):
        Schedule("cubic")


def test_ties_are_broken_by_position_deterministically():
    weights = {"a": torch.ones(2, 3), "b": torch.ones(4)}
    mask = magnitude_prune(weights, 0.5)
    assert mask["a"].flatten().tolist() == [False] * 5 + [True]
    assert mask["b"].tolist() == [True] * 4
    assert all(torch.equal(mask[k], magnitude_prune(weights, 0.5)[k]) for k in mask)


def test_random_masks_differ_by_seed_and_match_in_count():
    params = prunable_parameters(tiny_model())
    a, b, a2 = (random_prune(params, 0.6, seed=s) for s in (0, 1, 0))
    assert pruned_count(a) == pruned_count(b) == round(0.6 * sum(p.numel() for p in params.values()))
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(a[k], a2[k]) for k in a)
    assert 0.3 < masks_overlap(a, b) < 0.9 and masks_overlap(a, a2) == 1.0


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_sparsity_outside_unit_interval_is_refused(bad):
    with pytest.raises(ValueError, match=r"sparsity must be a number in \[0, 1\)"):
        check_sparsity(bad)
    with pytest.raises(ValueError):
        magnitude_prune(prunable_state(tiny_model()), bad)


def test_shrinking_sparsity_is_refused():
    weights = prunable_state(tiny_model())
    with pytest.raises(ValueError, match="nested"):
        magnitude_prune(weights, 0.2, current=magnitude_prune(weights, 0.5))


def test_sparsity_report_rows_and_fully_pruned_warning():
    weights = prunable_state(tiny_model())
    mask = magnitude_prune(weights, 0.5)
    rows = sparsity_report(mask, warn=False)
    overall = rows[-1]
    assert overall["scope"] == "overall" and overall["pruned"] == pruned_count(mask)
    assert {r["name"] for r in rows if r["scope"] == "layer"} == {"encoder.layer.0", "encoder.layer.1", "pooler"}
    mask["pooler.dense.weight"][:] = False
    with pytest.warns(UserWarning, match="FULLY PRUNED.*pooler"):
        rows = sparsity_report(mask)
    assert [r["name"] for r in rows if r["fully_pruned"]] == ["pooler.dense.weight", "pooler"]


@pytest.mark.parametrize("n_prune", [0, 37, 200, 201, 512, 999, 1000])
def test_pruning_equals_a_stable_sort_with_heavy_ties(n_prune):
    # The pruning rule is defined as "the n lowest, ties to the earlier position, pruned first";
    # the implementation finds it in O(N) with kthvalue. Check it against the definition.
    from ticketlib.core.masks import _prune_lowest

    generator = torch.Generator().manual_seed(n_prune)
    scores = torch.randint(0, 7, (1000,), generator=generator).float()  # ~140 ties per value
    keep = torch.ones(1000, dtype=torch.bool)
    keep[torch.randperm(1000, generator=generator)[:200]] = False
    if n_prune < 200:
        with pytest.raises(ValueError, match="nested"):
            _prune_lowest(scores, keep, n_prune)
        return
    ranked = torch.where(keep, scores, torch.full_like(scores, float("-inf")))
    expected = torch.ones_like(keep)
    expected[torch.sort(ranked, stable=True).indices[:n_prune]] = False
    assert torch.equal(_prune_lowest(scores, keep, n_prune), expected)
    assert int((~expected).sum()) == n_prune
