"""IMP on the real pre-trained offline model (MiniLM-L6 from the registry, its first LAYERS layers:
the checks are structural and bitwise, not about accuracy) and a real task."""

import pytest
import torch

from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig
from ticketlib.core.imp import run_imp
from ticketlib.core.mask_io import load_mask
from ticketlib.tasks.data import load_task_data
from ticketlib.tasks.models import OFFLINE_MODEL, load_model, load_tokenizer

pytestmark = pytest.mark.slow

LAYERS = 2  # a slice of the real checkpoint, as the smoke profile's: what is checked does not need six

CONFIG = IMPConfig(
    prune=PruneConfig(levels=2, rate=0.25, include_pooler=False),
    train=TrainConfig(learning_rate=5e-5, max_steps=6, batch_size=16, seed=1, progress=False),
)


@pytest.fixture(scope="module")
def data():
    return load_task_data(
        "rt-sentiment",
        "offline",
        load_tokenizer(OFFLINE_MODEL),
        max_train_examples=192,
        max_eval_examples=96,
        max_length=64,
    )


def fresh_model():
    return load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=LAYERS)[0]


def masks(run_dir):
    return [load_mask(run_dir / f"level_{k:02d}" / "mask.safetensors")[0] for k in range(3)]


@pytest.mark.essential
def test_two_levels_resume_after_interruption_with_bit_identical_masks(tmp_path, data):
    model, _, info = load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=LAYERS)
    assert info["num_layers"] == LAYERS
    rows = run_imp(
        model,
        data.train_features,
        data.evaluate,
        CONFIG,
        tmp_path / "a",
        metadata={"task": "rt-sentiment", "model": OFFLINE_MODEL},
        pad_token_id=data.pad_token_id,
    )
    assert [round(r["sparsity"], 4) for r in rows] == [0.0, 0.25, 0.5]
    # the reported accuracy is the final model's on every eval sentence: recount it one sentence at a time
    (features,) = data.eval_sets.values()
    assert len(features) == 96
    model.eval()
    with torch.no_grad():
        right = sum(
            int(model(input_ids=torch.tensor([f["input_ids"]])).logits.argmax(-1).item() == f["labels"])
            for f in features
        )
    assert rows[-1]["metrics"]["accuracy"] == pytest.approx(right / 96, abs=1e-9)
    assert all(round(r["metrics"]["accuracy"] * 96, 6).is_integer() for r in rows)  # counts over all 96
    final = load_mask(tmp_path / "a" / "level_02" / "mask.safetensors")[0]  # and the trained weights obey it
    weights = dict(model.named_parameters())
    assert all(torch.all(weights[k if k in weights else f"bert.{k}"][~keep] == 0) for k, keep in final.items())
    assert rows[0]["fully_pruned_matrices"] == [] and rows[2]["fully_pruned_matrices"] == []

    class Interrupted(Exception):
        pass

    seen = []

    def evaluate_until_level_1(m):
        seen.append(1)
        if len(seen) == 2:
            raise Interrupted  # dies at the end of level 1's training
        return data.evaluate(m)

    with pytest.raises(Interrupted):
        run_imp(
            fresh_model(),
            data.train_features,
            evaluate_until_level_1,
            CONFIG,
            tmp_path / "b",
            metadata={"task": "rt-sentiment", "model": OFFLINE_MODEL},
            pad_token_id=data.pad_token_id,
        )
    resumed = run_imp(
        fresh_model(),
        data.train_features,
        data.evaluate,
        CONFIG,
        tmp_path / "b",
        metadata={"task": "rt-sentiment", "model": OFFLINE_MODEL},
        pad_token_id=data.pad_token_id,
    )
    assert [r["metrics"] for r in resumed] == [r["metrics"] for r in rows]
    for a, b in zip(masks(tmp_path / "a"), masks(tmp_path / "b")):
        assert all(torch.equal(a[k], b[k]) for k in a)
