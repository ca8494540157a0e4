"""Structured baselines paired with a ticket (ticketlib.core.unit_baselines): random units and OMP prune
exactly the ticket's heads and neurons (per kind; per layer and kind with scope layerwise), for
every allocation, with bit-exact masks per seed; the experiments' and the overlap's paths use them."""

import warnings

import pytest
import torch
from conftest import tiny_model
from data_fixtures import tiny_checkpoint
from transformers import BertConfig, BertForSequenceClassification

from ticketlib.core.imp import one_shot_magnitude_mask
from ticketlib.core.masks import magnitude_prune, sparsity
from ticketlib.core.prunable import base_model, prunable_state
from ticketlib.core.structured import layout, level_target, prune
from ticketlib.core.unit_baselines import paired_unit_mask, prune_to_counts, pruned_counts, ticket_counts
from ticketlib.core.units import Units, expand, is_structured, units_from_mask
from ticketlib.foundations.atomic import write_json
from ticketlib.foundations.paths import RUN_FILE
from ticketlib.tasks.params import Recipe

ALLOCATIONS = [("joint", 1.0), ("equal", 1.0), ("ratio", 0.5)]


def model_4_heads(seed: int):
    """2 layers, hidden 32: 4 heads of 8 and 128 neurons per layer (seed 1 stands for trained weights)."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        num_labels=2,
    )
    return BertForSequenceClassification(config).eval()


def counts(mask, model, per_layer: bool):
    found = pruned_counts(units_from_mask(mask, model))
    return found if per_layer else {kind: sum(n) for kind, n in found.items()}


def pruned_weights(mask):
    return sum(int((~m).sum()) for m in mask.values())


@pytest.mark.filterwarnings("ignore:LAYER COLLAPSE")
@pytest.mark.parametrize("scope", ["global", "layerwise"])
@pytest.mark.parametrize("allocation,head_ratio", ALLOCATIONS)
def test_baselines_prune_the_tickets_counts_for_every_allocation(allocation, head_ratio, scope):
    trained, theta0 = model_4_heads(1), model_4_heads(0)
    layerwise = scope == "layerwise"
    for fraction in (0.0, 0.3, 0.6):
        ticket = prune(
            trained,
            level_target(trained, "heads+neurons", fraction),
            "heads+neurons",
            scope=scope,
            allocation=allocation,
            head_ratio=head_ratio,
        )
        assert ticket_counts(ticket, theta0, "heads+neurons") == counts(ticket, trained, per_layer=True)
        for criterion, seed in (("magnitude", None), ("random", 3)):
            baseline = paired_unit_mask(theta0, ticket, "heads+neurons", scope=scope, criterion=criterion, seed=seed)
            assert is_structured(baseline, theta0)
            assert counts(baseline, theta0, layerwise) == counts(ticket, trained, layerwise)
            assert pruned_weights(baseline) == pruned_weights(ticket)  # equal-size units: the same sparsity
            assert sparsity(baseline) == sparsity(ticket)


def test_counts_re_derived_from_the_sparsity_missed_the_ticket():
    """What the pairing fixes: 'equal' at 30% prunes 2 heads and 77 neurons (each kind rounded on
    its own); OMP at that weight sparsity, split again, pruned 2 heads and 73 neurons."""
    trained, theta0 = model_4_heads(1), model_4_heads(0)
    ticket = prune(trained, level_target(trained, "heads+neurons", 0.3), "heads+neurons", allocation="equal")
    assert counts(ticket, trained, False) == {"heads": 2, "neurons": 77}
    again = one_shot_magnitude_mask(theta0, sparsity(ticket), granularity="heads+neurons", allocation="equal")
    assert counts(again, theta0, False) == {"heads": 2, "neurons": 73}
    assert counts(paired_unit_mask(theta0, ticket, "heads+neurons"), theta0, False) == {"heads": 2, "neurons": 77}


def shrink_units(model, heads=(), neurons=()):
    """Scale the weights of the given (layer, index, factor) units, so their mean |w| ranks them."""
    shapes = layout(model)
    params = dict(base_model(model).named_parameters())
    with torch.no_grad():
        for layer, h, factor in heads:
            shape, rows = shapes[layer], slice(h * shapes[layer].head_size, (h + 1) * shapes[layer].head_size)
            for name in ("query", "key", "value"):
                params[shape.key(f"attention.self.{name}.weight")][rows] *= factor
            params[shape.key("attention.output.dense.weight")][:, rows] *= factor
        for layer, j, factor in neurons:
            params[shapes[layer].key("intermediate.dense.weight")][j] *= factor
            params[shapes[layer].key("output.dense.weight")][:, j] *= factor


def test_omp_takes_the_smallest_units_of_each_kind_globally_or_per_layer():
    theta0 = model_4_heads(0)
    shrink_units(
        theta0, heads=[(1, 2, 0.01), (0, 3, 0.1)], neurons=[(1, 7, 0.01), (1, 9, 0.02), (0, 5, 0.03), (1, 0, 0.04)]
    )
    ticket_units = Units.full(layout(theta0))  # the ticket: 1 head of layer 0, 3 neurons of layer 1
    ticket_units.heads[0][0] = False
    ticket_units.neurons[1][[100, 101, 102]] = False
    ticket = expand(ticket_units, theta0)
    found = units_from_mask(paired_unit_mask(theta0, ticket, "heads+neurons"), theta0).pruned()
    assert found == {"heads": [[], [2]], "neurons": [[5], [7, 9]]}  # the smallest of each kind, any layer
    found = units_from_mask(paired_unit_mask(theta0, ticket, "heads+neurons", scope="layerwise"), theta0).pruned()
    assert found == {"heads": [[3], []], "neurons": [[], [0, 7, 9]]}  # the smallest of each kind in each layer


@pytest.mark.parametrize(
    "scope,expected",
    [
        ("global", {"heads": [[], [0]], "neurons": [[23, 33, 59, 60], [3, 13, 20, 52]]}),
        ("layerwise", {"heads": [[0], []], "neurons": [[14, 23, 33, 59, 60], [3, 13, 20]]}),
    ],
)
def test_random_units_are_bit_exact_per_seed(scope, expected):
    """Pruned units recorded when the pairing was written (seed 11): a change of draw order shows here."""
    model = tiny_model()
    given = {"heads": [1, 0], "neurons": [5, 3]}
    first = prune_to_counts(model, given, "heads+neurons", scope=scope, criterion="random", seed=11)
    again = prune_to_counts(model, given, "heads+neurons", scope=scope, criterion="random", seed=11)
    other = prune_to_counts(model, given, "heads+neurons", scope=scope, criterion="random", seed=12)
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    assert units_from_mask(first, model).pruned() == expected
    assert counts(other, model, scope == "layerwise") == counts(first, model, scope == "layerwise")


def test_the_baseline_path_pairs_a_structured_ticket():
    from ticketlib.study.subnetworks import RANDOM_PRUNING_SEED_OFFSET, paired_units

    trained, theta0 = model_4_heads(1), model_4_heads(0)
    recipe = Recipe(granularity="heads+neurons", structured_allocation="equal", scope="layerwise")
    spec = recipe.prune_config().spec()
    ticket = prune(
        trained,
        level_target(trained, "heads+neurons", 0.3, spec),
        "heads+neurons",
        spec,
        scope="layerwise",
        allocation="equal",
    )
    rnd = paired_units(theta0, "random_pruning", ticket, recipe, seed=2)
    same = paired_unit_mask(
        theta0, ticket, "heads+neurons", spec, "layerwise", "random", 2 + RANDOM_PRUNING_SEED_OFFSET
    )
    assert rnd.keys() == same.keys() and all(torch.equal(rnd[k], same[k]) for k in rnd)
    omp = paired_units(theta0, "omp", ticket, recipe, seed=2)
    assert counts(rnd, theta0, True) == counts(omp, theta0, True) == counts(ticket, trained, True)


def test_the_overlaps_theta0_mask_of_a_structured_ticket_has_its_counts(tmp_path):
    from ticketlib.study.overlap import theta0_magnitude_mask
    from ticketlib.tasks.run_inputs import fresh_model
    from ticketlib.tickets.ticket import Ticket

    checkpoint = tiny_checkpoint(tmp_path / "tiny-bert", seed=3)
    for granularity, allocation in (("heads+neurons", "equal"), ("weights", "joint")):
        recipe = Recipe(task="rte", model=str(checkpoint), granularity=granularity, structured_allocation=allocation)
        run = tmp_path / granularity
        write_json(run / RUN_FILE, {"recipe": recipe.as_dict()})
        trained, _ = fresh_model(recipe, seed=0)
        spec = recipe.prune_config().spec()
        with torch.no_grad():  # weights unlike theta_0's, as a trained model's
            for p in base_model(trained).parameters():
                p.mul_(torch.rand(p.shape, generator=torch.Generator().manual_seed(p.numel())))
        ticket = prune(trained, 0.3, granularity, spec, allocation=allocation)
        reference = theta0_magnitude_mask(Ticket(ticket, {}, run), run)
        if granularity == "weights":  # the paper's path, as before: theta_0's magnitude mask at the sparsity
            theta0, _ = fresh_model(recipe, seed=0)
            expected = magnitude_prune(prunable_state(theta0, spec), sparsity(ticket))
            assert all(torch.equal(reference[k], expected[k]) for k in expected)
        else:
            assert counts(reference, trained, False) == counts(ticket, trained, False)
            assert sparsity(reference) == sparsity(ticket)


def test_bad_tickets_and_counts_fail_clearly():
    model = tiny_model()
    heads_only = prune(model, 0.1, "heads")
    with pytest.raises(ValueError, match="outside whole units"):
        ticket_counts(magnitude_prune(prunable_state(model), 0.3), model, "heads+neurons")
    with pytest.raises(ValueError, match="prunes heads, which granularity 'neurons' does not"):
        ticket_counts(heads_only, model, "neurons")
    with pytest.raises(ValueError, match="not 'weights'"):
        ticket_counts(heads_only, model, "weights")
    with pytest.raises(ValueError, match="does not fit the model's prunable set"):
        ticket_counts(heads_only, model_4_heads(0), "heads")
    partial = {k: v for k, v in heads_only.items() if not k.startswith("pooler")}
    with pytest.raises(ValueError, match="'pooler.dense.weight' is missing"):
        ticket_counts(partial, model, "heads")
    good = {"heads": [1, 0], "neurons": [0, 0]}
    for bad, message in (
        ({"heads": [3, 0], "neurons": [0, 0]}, "3 is not an integer from 0 to 2"),
        ({"heads": [1], "neurons": [0, 0]}, "1 layers given, the model has 2"),
        ({"heads": [1.0, 0], "neurons": [0, 0]}, "1.0 is not an integer"),
        ({"neurons": [0, 0]}, "nothing of the heads"),
        ({"heads": [0, 0], "neurons": [1, 0]}, "the counts prune neurons"),
    ):
        with pytest.raises(ValueError, match=message):
            prune_to_counts(model, bad, "heads")
    with pytest.raises(ValueError, match="not 'taylor'"):
        prune_to_counts(model, good, "heads", criterion="taylor")
    with pytest.raises(ValueError, match="need a seed"):
        prune_to_counts(model, good, "heads", criterion="random")
    with pytest.raises(ValueError, match="only random units use one"):
        prune_to_counts(model, good, "heads", seed=1)
    with pytest.raises(ValueError, match="scope"):
        prune_to_counts(model, good, "heads", scope="per-matrix")
    with pytest.raises(ValueError, match="not 'weights'"):
        prune_to_counts(model, good, "weights")


def test_a_collapsed_layer_warns():
    model = tiny_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prune_to_counts(model, {"heads": [1, 1], "neurons": [0, 0]}, "heads", scope="layerwise")
    with pytest.warns(UserWarning, match=r"LAYER COLLAPSE: every head of encoder layer\(s\) \[0\]"):
        prune_to_counts(model, {"heads": [2, 0], "neurons": [0, 0]}, "heads", scope="layerwise")
