import pytest
import torch
from conftest import synthetic_features, tiny_model
from helpers import accuracy

from ticketlib.core.config import TrainConfig
from ticketlib.core.train import fine_tune, linear_schedule
from ticketlib.foundations.batching import Batches, batch_indices, pad_collate


def test_fine_tune_learns_and_is_bit_for_bit_deterministic():
    train, dev = synthetic_features(256, seed=0), synthetic_features(128, seed=1)
    config = TrainConfig(learning_rate=1e-3, epochs=6, batch_size=16, seed=3, progress=False)
    runs = []
    for _ in range(2):
        model = tiny_model()
        result = fine_tune(model, train, config, evaluate=accuracy(dev))
        runs.append((model.state_dict(), result))
    (a, ra), (b, rb) = runs
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ra.losses == rb.losses and ra.steps == 6 * 16
    assert ra.metrics["accuracy"] > 0.8, ra.metrics


def test_fused_adamw_is_the_default_and_agrees_with_torchs_default_implementation():
    train = synthetic_features(64, seed=0)
    weights = {}
    for impl in ("fused", "torch_default"):
        model = tiny_model()
        config = TrainConfig(
            learning_rate=1e-3, max_steps=20, batch_size=16, weight_decay=0.01, seed=3, progress=False, adamw_impl=impl
        )
        fine_tune(model, train, config)
        weights[impl] = model.state_dict()
    assert TrainConfig().adamw_impl == "fused"
    for key, value in weights["fused"].items():
        torch.testing.assert_close(value, weights["torch_default"][key], rtol=1e-4, atol=1e-5)
    assert any(not torch.equal(v, weights["torch_default"][k]) for k, v in weights["fused"].items()), (
        "the option did not change the implementation"
    )


def test_config_validation():
    for bad in (
        {"learning_rate": 0},
        {"learning_rate": -1e-5},
        {"max_steps": 0},
        {"epochs": 0},
        {"batch_size": 0},
        {"schedule_horizon": "epoch"},
        {"adamw_impl": "apex"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig(**bad)


def test_linear_schedule_per_level_and_whole_run():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    level = linear_schedule(opt, warmup=0, total=10)
    assert [level.lr_lambdas[0](s) for s in (0, 5, 10)] == [1.0, 0.5, 0.0]
    run = linear_schedule(opt, warmup=0, total=100, offset=50)  # level 5 of 10 in the reference
    assert run.lr_lambdas[0](0) == 0.5 and run.lr_lambdas[0](10) == 0.4
    warm = linear_schedule(opt, warmup=4, total=10)
    assert warm.lr_lambdas[0](0) == 0.25 and warm.lr_lambdas[0](4) == 1.0


def test_dynamic_padding_and_length_grouping():
    features = synthetic_features(200)
    batch = pad_collate(features[:3])
    assert batch["input_ids"].shape[1] == max(len(f["input_ids"]) for f in features[:3])
    grouped = Batches(features, 16, shuffle=True, seed=0).padding_fraction()
    random_batches = Batches(features, 16, shuffle=True, seed=0, group_by_length=False).padding_fraction()
    assert grouped < random_batches / 2
    idx = batch_indices([len(f["input_ids"]) for f in features], 16, shuffle=True, seed=0)
    assert sorted(i for b in idx for i in b) == list(range(200))
    assert idx == batch_indices([len(f["input_ids"]) for f in features], 16, shuffle=True, seed=0)
    with pytest.raises(ValueError, match="empty"):
        Batches([], 4)
