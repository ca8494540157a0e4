"""Structured options (issue 21): heads and neurons pruned within their own budgets
(structured_allocation 'equal' / 'ratio'), the first-order Taylor unit score, and the defaults
('joint', 'magnitude') giving today's masks, manifests and run ids."""

import dataclasses
import warnings

import pytest
import torch
from conftest import synthetic_features, tiny_model
from transformers import BertConfig, BertForSequenceClassification

from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig
from ticketlib.core.imp import imp_mask, one_shot_magnitude_mask, random_mask, run_imp
from ticketlib.core.prunable import base_model, prunable_parameters
from ticketlib.core.structured import level_target, prune, structured_prune
from ticketlib.core.train import fine_tune, gradient_totals
from ticketlib.core.unit_scores import layout, taylor_scores
from ticketlib.core.units import units_from_mask
from ticketlib.foundations.atomic import canonical, read_json
from ticketlib.foundations.batching import Batches
from ticketlib.foundations.paths import MANIFEST_FILE
from ticketlib.tasks.params import Recipe

TRAIN = TrainConfig(learning_rate=1e-3, max_steps=6, batch_size=8, progress=False)


def model_8_heads(seed: int = 0):
    """2 layers, hidden 32: 4 heads of 8 per layer (1,024 weights each, 8,192 in all) and 128
    neurons per layer (64 weights each, 16,384 in all); the pooler's 1,024 weights are no unit."""
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


HEADS, NEURONS, TOTAL = 8192, 16384, 8192 + 16384 + 1024


def pruned_counts(mask, model, per_layer: bool = False):
    units = units_from_mask(mask, model)
    count = {kind: [int((~kept).sum()) for kept in units.get(kind)] for kind in ("heads", "neurons")}
    return count if per_layer else {kind: sum(v) for kind, v in count.items()}


# --- defaults: today's masks ------------------------------------------------------------------


def test_defaults_reproduce_todays_masks_bit_for_bit():
    """Pruned units recorded with the code before the options existed (joint, magnitude)."""
    model = tiny_model()
    target = level_target(model, "heads+neurons", 0.3)
    mask = prune(model, target, "heads+neurons")
    assert units_from_mask(mask, model).pruned() == {
        "heads": [[1], []],
        "neurons": [
            [
                1,
                2,
                6,
                7,
                12,
                13,
                14,
                15,
                21,
                22,
                26,
                28,
                30,
                32,
                34,
                35,
                38,
                39,
                40,
                41,
                42,
                46,
                47,
                55,
                57,
                59,
                60,
                61,
                63,
            ],
            [
                2,
                3,
                4,
                5,
                8,
                10,
                11,
                13,
                14,
                17,
                21,
                22,
                23,
                26,
                30,
                31,
                34,
                35,
                38,
                42,
                43,
                49,
                51,
                52,
                53,
                54,
                57,
                59,
                61,
                62,
            ],
        ],
    }
    explicit = prune(model, target, "heads+neurons", allocation="joint", head_ratio=1.0, criterion="magnitude")
    assert all(torch.equal(mask[k], explicit[k]) for k in mask)
    rnd = random_mask(model, target, seed=5, granularity="heads+neurons")
    assert units_from_mask(rnd, model).pruned() == {
        "heads": [[1], []],
        "neurons": [
            [3, 4, 6, 10, 16, 19, 20, 23, 26, 28, 29, 30, 35, 40, 51, 55, 56, 58, 59, 62],
            [1, 3, 10, 12, 17, 18, 21, 22, 24, 26, 28, 33, 34, 35, 37, 38, 42, 44, 48, 53, 55, 56, 60, 62, 63],
        ],
    }


def test_defaults_record_nothing_new_but_how_unit_baselines_are_sized():
    before = ["exclude", "granularity", "include_pooler", "levels", "rate", "schedule", "scope"]
    assert sorted(canonical(PruneConfig(granularity="heads+neurons"))) == before
    recipe = Recipe(granularity="heads+neurons")
    assert not [k for k in recipe.identity() if k.startswith("structured_")]
    new = ("early_bird", "structured_")  # options recorded only when on
    assert recipe.identity() == {
        **{k: v for k, v in recipe.as_dict().items() if k not in ("device", "threads") and not k.startswith(new)},
        "unit_baselines": "ticket_counts",
    }  # baselines copy the ticket's counts
    weights = Recipe()
    assert "unit_baselines" not in weights.identity()  # the paper's path: every run id stands
    on = Recipe(granularity="heads+neurons", structured_allocation="equal", structured_score="taylor")
    assert {k: v for k, v in on.identity().items() if k.startswith("structured_")} == {
        "structured_allocation": "equal",
        "structured_head_ratio": 1.0,
        "structured_score": "taylor",
        "structured_score_batches": 4,
    }
    assert canonical(on.prune_config())["structured_allocation"] == "equal"
    assert (
        Recipe(granularity="heads+neurons", structured_allocation="equal").identity()
        != Recipe(granularity="heads+neurons", structured_allocation="equal", structured_score="taylor").identity()
    )


# --- allocation -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:LAYER COLLAPSE")
def test_equal_allocation_prunes_each_kind_to_the_same_fraction():
    model = model_8_heads()
    for fraction, heads, neurons in ((0.25, 2, 64), (0.5, 4, 128), (0.75, 6, 192)):
        target = fraction * (HEADS + NEURONS) / TOTAL
        assert target == level_target(model, "heads+neurons", fraction)
        mask = prune(model, target, "heads+neurons", allocation="equal")
        assert pruned_counts(mask, model) == {"heads": heads, "neurons": neurons}
        layerwise = prune(model, target, "heads+neurons", allocation="equal", scope="layerwise")
        assert pruned_counts(layerwise, model, per_layer=True) == {
            "heads": [heads // 2] * 2,
            "neurons": [neurons // 2] * 2,
        }
    joint = prune(model, 0.25 * (HEADS + NEURONS) / TOTAL, "heads+neurons")
    assert pruned_counts(joint, model) != {"heads": 2, "neurons": 64}  # what the option changes


def test_equal_allocation_is_nested_over_levels_and_follows_the_scores_within_a_kind():
    model = model_8_heads()
    with torch.no_grad():  # head 3 of layer 1 and neurons 0..9 of layer 0 are the smallest of their kind
        for name in ("query", "key", "value"):
            getattr(model.bert.encoder.layer[1].attention.self, name).weight[24:] *= 0.01
        model.bert.encoder.layer[0].intermediate.dense.weight[:10] *= 0.01
    target = 0.125 * (HEADS + NEURONS) / TOTAL  # 1 head, 32 neurons
    first = prune(model, target, "heads+neurons", allocation="equal")
    units = units_from_mask(first, model)
    assert units.pruned()["heads"] == [[], [3]] and set(range(10)) <= set(units.pruned()["neurons"][0])
    second = prune(model, 2 * target, "heads+neurons", allocation="equal", current=first)
    assert pruned_counts(second, model) == {"heads": 2, "neurons": 64}
    assert all(bool((second[k] <= first[k]).all()) for k in first)


@pytest.mark.filterwarnings("ignore:LAYER COLLAPSE")
def test_ratio_allocation_gives_the_named_fractions():
    model = model_8_heads()
    # heads at half the neurons' fraction: 1/4 of the heads (2) and 1/2 of the neurons (128)
    target = (0.25 * HEADS + 0.5 * NEURONS) / TOTAL
    mask = prune(model, target, "heads+neurons", allocation="ratio", head_ratio=0.5)
    assert pruned_counts(mask, model) == {"heads": 2, "neurons": 128}
    mask = prune(model, (0.75 * HEADS + 0.25 * NEURONS) / TOTAL, "heads+neurons", allocation="ratio", head_ratio=3)
    assert pruned_counts(mask, model) == {"heads": 6, "neurons": 64}
    with pytest.raises(ValueError, match="more than all of them"):  # heads at 4 x 0.3 = 1.2 of their weights
        prune(model, (1.0 * HEADS + 0.3 * NEURONS) / TOTAL, "heads+neurons", allocation="ratio", head_ratio=4)


def test_baselines_split_units_as_the_ticket():
    model = model_8_heads()
    target = 0.25 * (HEADS + NEURONS) / TOTAL
    for mask in (
        random_mask(model, target, seed=1, granularity="heads+neurons", allocation="equal"),
        one_shot_magnitude_mask(model, target, granularity="heads+neurons", allocation="equal"),
    ):
        assert pruned_counts(mask, model) == {"heads": 2, "neurons": 64}


# --- the Taylor score -------------------------------------------------------------------------


def hand_taylor(model, gradients):
    """Per layer, (heads, neurons): each unit's sum of |w| * G over its weights / its weight count,
    by explicit slicing."""
    params = dict(base_model(model).named_parameters())
    out = []
    for shape in layout(model):

        def saliency(suffix, shape=shape):
            key = shape.key(suffix)
            return params[key].detach().abs() * gradients[key]

        heads = []
        for h in range(shape.heads):
            rows = slice(h * shape.head_size, (h + 1) * shape.head_size)
            total = sum(saliency(f"attention.self.{n}.weight")[rows].sum() for n in ("query", "key", "value"))
            total = total + saliency("attention.output.dense.weight")[:, rows].sum()
            heads.append(float(total) / (4 * shape.head_size * shape.hidden))
        neurons = [
            float(saliency("intermediate.dense.weight")[j].sum() + saliency("output.dense.weight")[:, j].sum())
            / (2 * shape.hidden)
            for j in range(shape.neurons)
        ]
        out.append((heads, neurons))
    return out


def test_gradient_totals_are_the_summed_absolute_gradients_of_the_first_training_batches():
    model, features = model_8_heads(), synthetic_features(40)
    params = prunable_parameters(model)
    model.train()
    totals = gradient_totals(model, features, TRAIN, params, batches=3)
    assert model.training and all(p.grad is None for p in model.parameters())  # mode restored, no gradients left
    model.eval()
    expected = {k: torch.zeros_like(p) for k, p in params.items()}
    for seen, (_, batch) in enumerate(Batches(features, 8, shuffle=True, seed=0)):
        if seen == 3:
            break
        loss = model(**batch).loss
        for key, grad in zip(params, torch.autograd.grad(loss, list(params.values()))):
            expected[key] += grad.abs()
    assert totals.keys() == expected.keys() and all(torch.equal(totals[k], expected[k]) for k in totals)
    more = gradient_totals(model, features, TRAIN, params, batches=99)  # 40 examples: 5 batches, all of them
    assert all(bool((more[k] >= totals[k]).all()) for k in totals) and any(
        not torch.equal(more[k], totals[k]) for k in totals
    )


def test_taylor_score_is_the_mean_of_w_times_the_gradient_per_unit():
    model, features = model_8_heads(), synthetic_features(40)
    gradients = gradient_totals(model, features, TRAIN, prunable_parameters(model), batches=2)
    for shape, (heads, neurons) in zip(layout(model), hand_taylor(model, gradients)):
        assert taylor_scores(model, shape, "heads", gradients).tolist() == pytest.approx(heads, rel=1e-5)
        assert taylor_scores(model, shape, "neurons", gradients).tolist() == pytest.approx(neurons, rel=1e-5)


def test_taylor_ranking_prunes_the_units_with_the_least_w_times_gradient():
    model = model_8_heads()
    gradients = {k: torch.ones_like(p) for k, p in prunable_parameters(model).items()}
    for name in ("query", "key", "value"):  # head 2 of layer 0: no gradient, so no first-order effect
        gradients[f"encoder.layer.0.attention.self.{name}.weight"][16:24] = 0
    gradients["encoder.layer.0.attention.output.dense.weight"][:, 16:24] = 0
    gradients["encoder.layer.1.intermediate.dense.weight"][5] = 0
    gradients["encoder.layer.1.output.dense.weight"][:, 5] = 0
    mask = structured_prune(
        model,
        (1024 + 64) / TOTAL,
        "heads+neurons",
        criterion="taylor",
        gradients=gradients,
        allocation="ratio",
        head_ratio=(1024 / HEADS) / (64 / NEURONS),
    )
    assert units_from_mask(mask, model).pruned() == {"heads": [[2], []], "neurons": [[], [5]]}
    assert units_from_mask(prune(model, 1024 / TOTAL, "heads"), model).pruned()["heads"] != [[2], []]


def test_a_gradient_pass_during_training_leaves_the_run_as_it_was():
    features = synthetic_features(48)
    models = [model_8_heads(), model_8_heads()]

    def on_step(step, m):
        gradient_totals(m, features, TRAIN, prunable_parameters(m), batches=2)
        return False

    fine_tune(models[0], features, TRAIN)
    fine_tune(models[1], features, TRAIN, on_step=on_step)
    assert all(torch.equal(a, b) for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()))


def test_imp_with_equal_allocation_and_taylor_scores(tmp_path):
    model, features = model_8_heads(), synthetic_features(48)
    prune_config = PruneConfig(
        levels=2,
        rate=0.25,
        granularity="heads+neurons",
        structured_allocation="equal",
        structured_score="taylor",
        structured_score_batches=2,
    )
    config = IMPConfig(prune=prune_config, train=dataclasses.replace(TRAIN, max_steps=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_imp(model, features, None, config, tmp_path / "run")
    previous = None
    for level, (heads, neurons) in ((1, (2, 64)), (2, (4, 128))):
        mask, _ = imp_mask(tmp_path / "run", level)
        assert pruned_counts(mask, model) == {"heads": heads, "neurons": neurons}
        if previous is not None:
            assert all(bool((mask[k] <= previous[k]).all()) for k in mask)
        previous = mask
    recorded = read_json(tmp_path / "run" / MANIFEST_FILE)["config"]["prune"]
    assert recorded["structured_allocation"] == "equal" and recorded["structured_score"] == "taylor"
    assert recorded["structured_score_batches"] == 2


# --- bad values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"structured_allocation": "balanced"}, "unknown structured_allocation 'balanced'"),
        ({"structured_score": "fisher"}, "unknown structured_score 'fisher'"),
        ({"structured_allocation": "ratio", "structured_head_ratio": 0}, "structured_head_ratio must be a number > 0"),
        ({"structured_allocation": "ratio", "structured_head_ratio": True}, "structured_head_ratio must be a number"),
        ({"structured_head_ratio": 0.5}, "used only with structured_allocation 'ratio'"),
        ({"structured_score": "taylor", "structured_score_batches": 0}, "integer >= 1"),
        ({"structured_score_batches": 8}, "used only with structured_score 'taylor'"),
        ({"granularity": "weights", "structured_score": "taylor"}, "not 'weights'"),
        ({"granularity": "heads", "structured_allocation": "equal"}, "needs granularity 'heads\\+neurons'"),
    ],
)
def test_bad_values_fail_early_with_a_clear_message(changes, message):
    values = {"granularity": "heads+neurons", **changes}
    with pytest.raises(ValueError, match=message):
        PruneConfig(**values)
    with pytest.raises(ValueError, match=f"{message}|must be one of|must be float"):  # the Recipe's own checks
        Recipe(**values)


def test_pruning_calls_check_their_inputs():
    model = model_8_heads()
    with pytest.raises(ValueError, match="needs gradient totals"):
        prune(model, 0.1, "heads+neurons", criterion="taylor")
    gradients = {k: torch.ones_like(p) for k, p in prunable_parameters(model).items()}
    with pytest.raises(ValueError, match="'taylor' criterion only"):
        prune(model, 0.1, "heads+neurons", gradients=gradients)
    with pytest.raises(ValueError, match="miss 'encoder.layer.1.output.dense.weight'"):
        prune(
            model,
            0.1,
            "heads+neurons",
            criterion="taylor",
            gradients={k: v for k, v in gradients.items() if k != "encoder.layer.1.output.dense.weight"},
        )
    with pytest.raises(ValueError, match="not 'weights'"):
        prune(model, 0.1, "weights", criterion="taylor", gradients=gradients)
    with pytest.raises(ValueError, match="not 'weights'"):
        prune(model, 0.1, "weights", allocation="equal")
    with pytest.raises(ValueError, match="at least one batch"):
        gradient_totals(model, synthetic_features(8), TRAIN, prunable_parameters(model), batches=0)
