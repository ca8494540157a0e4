import dataclasses

import pytest
import torch
from conftest import synthetic_features, tiny_model
from helpers import accuracy

from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig
from ticketlib.core.imp import (
    evaluate_ticket,
    imp_mask,
    one_shot_magnitude_mask,
    random_mask,
    run_imp,
    standard_pruning,
)
from ticketlib.core.mask_io import load_mask
from ticketlib.core.masks import sparsity
from ticketlib.core.prunable import prunable_parameters
from ticketlib.core.rewind import base_snapshot

TRAIN = TrainConfig(learning_rate=1e-3, max_steps=8, batch_size=16, seed=0, progress=False)


def config(**kwargs):
    return IMPConfig(prune=PruneConfig(levels=3, rate=0.2), train=TRAIN, **kwargs)


@pytest.fixture(scope="module")
def data():
    return synthetic_features(128, seed=0), synthetic_features(64, seed=1)


def masks_of(run_dir, levels):
    return [load_mask(run_dir / f"level_{k:02d}" / "mask.safetensors")[0] for k in range(levels + 1)]


def test_imp_levels_are_exact_nested_and_resume_bit_identically(tmp_path, data):
    train, dev = data
    rows = run_imp(tiny_model(), train, accuracy(dev), config(), tmp_path / "a", metadata={"task": "synthetic"})
    assert [r["level"] for r in rows] == [0, 1, 2, 3]
    assert [round(r["sparsity"], 3) for r in rows] == [0.0, 0.2, 0.4, 0.6]
    masks = masks_of(tmp_path / "a", 3)
    for before, after in zip(masks, masks[1:]):
        assert all(bool((after[k] <= before[k]).all()) for k in before)
    total = sum(m.numel() for m in masks[0].values())
    pruned = [sum(int((~m).sum()) for m in mask.values()) for mask in masks]
    assert pruned == [round(s * total) for s in (0, 0.2, 0.4, 0.6)]
    _, meta = imp_mask(tmp_path / "a", 2)
    assert meta["task"] == "synthetic" and meta["level"] == "2"

    # Interrupt a second run during level 2's training, then resume it.
    class Killed(Exception):
        pass

    calls = []

    def evaluate_then_die(model):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return accuracy(dev)(model)

    with pytest.raises(Killed):
        run_imp(tiny_model(), train, evaluate_then_die, config(), tmp_path / "b", metadata={"task": "synthetic"})
    assert (tmp_path / "b" / "level_01" / "level.json").exists()
    assert not (tmp_path / "b" / "level_02" / "level.json").exists()
    trained = []
    resumed = run_imp(
        tiny_model(),
        train,
        lambda m: trained.append(1) or accuracy(dev)(m),
        config(),
        tmp_path / "b",
        metadata={"task": "synthetic"},
    )
    assert len(trained) == 2, "levels 0 and 1 were reused, only 2 and 3 trained"
    assert [r["metrics"] for r in resumed] == [r["metrics"] for r in rows]
    for a, b in zip(masks, masks_of(tmp_path / "b", 3)):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_other_parameters_is_refused(tmp_path, data):
    train, dev = data
    run_imp(tiny_model(), train, None, IMPConfig(prune=PruneConfig(levels=1), train=TRAIN), tmp_path)
    other = IMPConfig(prune=PruneConfig(levels=1), train=dataclasses.replace(TRAIN, learning_rate=5e-4))
    with pytest.raises(ValueError, match="different config"):
        run_imp(tiny_model(), train, None, other, tmp_path)
    with pytest.raises(ValueError, match="theta0_checksum"):
        run_imp(tiny_model(seed=9), train, None, IMPConfig(prune=PruneConfig(levels=1), train=TRAIN), tmp_path)


@pytest.mark.parametrize("policy", ["reinit", "keep", "rewind"])
def test_head_policies_run(tmp_path, data, policy):
    train, _ = data
    rows = run_imp(tiny_model(), train, None, config(head_policy=policy), tmp_path)
    assert len(rows) == 4
    assert all((tmp_path / f"level_{k:02d}" / "head.safetensors").exists() for k in range(4))  # every policy


def test_rewinding_to_theta_i(tmp_path, data):
    train, _ = data
    run_imp(tiny_model(), train, None, config(rewind_step=3), tmp_path)
    theta_i = tmp_path / "theta_i.safetensors"
    assert theta_i.exists()
    from safetensors.torch import load_file

    assert not torch.equal(
        load_file(str(theta_i))["encoder.layer.0.attention.self.query.weight"],
        base_snapshot(tiny_model())["encoder.layer.0.attention.self.query.weight"],
    )


def test_baselines(data):
    train, dev = data
    model = tiny_model()
    omp = one_shot_magnitude_mask(model, 0.5)
    rnd, rnd2 = random_mask(model, 0.5, seed=0), random_mask(model, 0.5, seed=1)
    assert sparsity(omp) == pytest.approx(sparsity(rnd)) == pytest.approx(0.5, abs=1e-4)
    assert any((rnd[name] != rnd2[name]).any() for name in rnd)  # the seed decides the random mask
    pretrained = evaluate_ticket(tiny_model(), omp, train, accuracy(dev), TRAIN)
    reinit = evaluate_ticket(tiny_model(), omp, train, accuracy(dev), TRAIN, init="random")
    assert pretrained["init"] == "pretrained" and reinit["init"] == "random"
    assert pretrained["metrics"] != reinit["metrics"] or pretrained["steps"] == reinit["steps"] == 8
    with pytest.raises(ValueError, match="init"):
        evaluate_ticket(tiny_model(), omp, train, None, TRAIN, init="zeros")


def test_standard_pruning_prunes_during_training_without_rewinding(tmp_path, data):
    train, dev = data
    model = tiny_model()
    rows = standard_pruning(model, train, accuracy(dev), config(), tmp_path)
    assert [round(r["sparsity"], 3) for r in rows] == [0.0, 0.2, 0.4, 0.6]
    assert [r["step"] for r in rows] == [8, 16, 24, 32]
    final = load_mask(tmp_path / "level_03" / "mask.safetensors")[0]
    params = prunable_parameters(model)
    assert all(int((params[k][~m] != 0).sum()) == 0 for k, m in final.items())


def test_bad_configs():
    with pytest.raises(ValueError, match="levels"):
        PruneConfig(levels=0)
    with pytest.raises(ValueError, match="100%"):
        PruneConfig(levels=10)
    with pytest.raises(ValueError, match="schedule"):
        PruneConfig(schedule="cubic")
    with pytest.raises(ValueError, match="scope"):
        PruneConfig(scope="per-head")
    with pytest.raises(ValueError, match="head_policy"):
        IMPConfig(head_policy="zero")
    with pytest.raises(ValueError, match="rewind_step"):
        IMPConfig(rewind_step=-1)
