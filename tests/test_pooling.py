"""Pooling of classification/regression heads: "cls" is Hugging Face's model unchanged, "mean" is the
attention-mask-weighted mean of the last hidden states, ignores padding and has no pooler."""

import pytest
import torch
from conftest import synthetic_features
from data_fixtures import tiny_checkpoint
from transformers import BertForSequenceClassification

from ticketlib.core.config import PrunableSet, TrainConfig
from ticketlib.core.mask_io import check_fits
from ticketlib.core.masker import Masker
from ticketlib.core.masks import full_mask, magnitude_prune
from ticketlib.core.pooling import MeanPooledClassifier, mean_pool
from ticketlib.core.prunable import architecture_fingerprint, prunable_parameters, prunable_state
from ticketlib.core.train import fine_tune
from ticketlib.tasks.models import OFFLINE_MODEL, load_model
from ticketlib.tasks.params import Recipe
from ticketlib.tasks.run_inputs import fresh_model

IDS = [[2, 10, 11, 12, 13, 3], [2, 20, 21, 3, 0, 0]]
MASK = [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A local BertModel checkpoint with a pooler and no head (like the offline MiniLM)."""
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny-bert", seed=3)


def padded(ids, mask, extra):
    return (torch.tensor([row + [0] * extra for row in ids]), torch.tensor([row + [0] * extra for row in mask]))


def test_mean_pool_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0], [7.0, 8.0]]))


@pytest.mark.parametrize("task", ["rte", "stsb"])
def test_mean_pooling_ignores_padding(checkpoint, task):
    model, _, info = load_model(checkpoint, task, seed=0, pooling="mean")
    assert isinstance(model, MeanPooledClassifier) and info["pooling"] == "mean"
    with torch.no_grad():
        reference = model(input_ids=torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits
        for extra in (1, 7, 30):
            logits = model(*padded(IDS, MASK, extra)).logits
            assert (logits - reference).abs().max() <= 1e-6
        alone = model(input_ids=torch.tensor([IDS[1][:4]]), attention_mask=torch.tensor([MASK[1][:4]])).logits
        assert (alone[0] - reference[1]).abs().max() <= 1e-6


def test_mean_logits_are_the_classifier_on_the_masked_mean(checkpoint):
    model, _, _ = load_model(checkpoint, "rte", seed=0, pooling="mean")
    ids, mask = torch.tensor(IDS), torch.tensor(MASK)
    with torch.no_grad():
        hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        expected = (
            torch.stack([hidden[0, :6].mean(0), hidden[1, :4].mean(0)]) @ model.classifier.weight.T
            + model.classifier.bias
        )
        logits = model(input_ids=ids, attention_mask=mask).logits
    assert (logits - expected).abs().max() <= 1e-6


def test_mean_losses_match_the_problem_type(checkpoint):
    ids, mask = torch.tensor(IDS), torch.tensor(MASK)
    classifier, _, _ = load_model(checkpoint, "rte", seed=0, pooling="mean")
    out = classifier(input_ids=ids, attention_mask=mask, labels=torch.tensor([1, 0]))
    log_p = out.logits.log_softmax(-1)
    assert classifier.config.problem_type == "single_label_classification"
    assert torch.allclose(out.loss, -(log_p[0, 1] + log_p[1, 0]) / 2)
    regressor, _, _ = load_model(checkpoint, "stsb", seed=0, pooling="mean")
    out = regressor(input_ids=ids, attention_mask=mask, labels=torch.tensor([2.5, -1.0]))
    assert regressor.config.problem_type == "regression" and out.logits.shape == (2, 1)
    assert torch.allclose(out.loss, ((out.logits[0, 0] - 2.5) ** 2 + (out.logits[1, 0] + 1.0) ** 2) / 2)


@pytest.mark.parametrize("task, num_labels", [("rte", 2), ("stsb", 1)])
def test_cls_is_hugging_faces_model_bit_for_bit(checkpoint, task, num_labels):
    default, _, info = load_model(checkpoint, task, seed=5)
    named, _, _ = load_model(checkpoint, task, seed=5, pooling="cls")
    torch.manual_seed(5)
    problem = "regression" if num_labels == 1 else "single_label_classification"
    direct = BertForSequenceClassification.from_pretrained(
        checkpoint, num_labels=num_labels, problem_type=problem
    ).eval()
    assert type(default) is BertForSequenceClassification and info["pooling"] == "cls"
    ids, mask = torch.tensor(IDS), torch.tensor(MASK)
    with torch.no_grad():
        outputs = [m(input_ids=ids, attention_mask=mask).logits for m in (default, named, direct)]
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])
    for key, value in direct.state_dict().items():
        assert torch.equal(default.state_dict()[key], value), key


def test_mean_model_keeps_hugging_face_names_and_has_no_pooler(checkpoint):
    cls_model, _, _ = load_model(checkpoint, "rte", seed=0)
    mean_model, _, info = load_model(checkpoint, "rte", seed=0, pooling="mean")
    cls_names = {n for n, _ in cls_model.named_parameters()}
    mean_names = {n for n, _ in mean_model.named_parameters()}
    assert cls_names - mean_names == {"bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    assert mean_names <= cls_names
    assert info["dropped_pretrained_weights"] == 2  # the checkpoint's pooler
    assert info["newly_initialized"] == ["classifier.bias", "classifier.weight"]
    for name, param in mean_model.bert.named_parameters():  # the same pre-trained encoder
        assert torch.equal(param, cls_model.bert.get_parameter(name)), name


def test_mean_pooling_never_counts_the_pooler_as_prunable(checkpoint):
    cls_model, _, _ = load_model(checkpoint, "rte", seed=0)
    mean_model, _, _ = load_model(checkpoint, "rte", seed=0, pooling="mean")
    with_pooler = PrunableSet(include_pooler=True)
    assert "pooler.dense.weight" in prunable_parameters(cls_model, with_pooler)
    mean_keys = list(prunable_parameters(mean_model, with_pooler))
    assert not any(k.startswith("pooler.") for k in mean_keys)
    assert mean_keys == list(prunable_parameters(cls_model, PrunableSet(include_pooler=False)))
    assert architecture_fingerprint(mean_model, with_pooler) == architecture_fingerprint(cls_model, with_pooler)
    # Masks move between the two heads: a [CLS] ticket's pooler entry is ignored, a mean ticket
    # leaves the [CLS] model's pooler dense.
    cls_mask = magnitude_prune(prunable_state(cls_model, with_pooler), 0.5)
    mean_mask = magnitude_prune(prunable_state(mean_model, with_pooler), 0.5)
    check_fits(cls_mask, mean_model, with_pooler)
    check_fits(mean_mask, cls_model, with_pooler)
    assert Masker(mean_model, cls_mask, with_pooler).keys == mean_keys


def test_masked_mean_model_trains_and_pruned_weights_stay_zero(checkpoint):
    model, _, _ = load_model(checkpoint, "rte", seed=0, pooling="mean")
    mask = magnitude_prune(prunable_state(model), 0.6)
    masker = Masker(model, mask)
    config = TrainConfig(learning_rate=1e-3, max_steps=8, batch_size=8, seed=0, progress=False)
    result = fine_tune(model, synthetic_features(32), config, masker=masker)
    assert result.steps == 8 and all(torch.isfinite(torch.tensor(result.losses)))
    assert masker.pruned_are_zero()
    assert full_mask(prunable_parameters(model)).keys() == mask.keys()


def test_pooling_is_checked_and_ignored_by_heads_that_do_not_pool(checkpoint):
    with pytest.raises(ValueError, match="pooling must be one of cls, mean"):
        load_model(checkpoint, "rte", pooling="max")
    _, _, info = load_model(checkpoint, "squad", pooling="mean")
    assert info["pooling"] is None and info["model_class"] == "BertForQuestionAnswering"


def test_recipe_pooling_reaches_the_model(checkpoint):
    assert Recipe().pooling == "mean"  # offline-minilm's own pre-training pooling
    assert Recipe(model="bert-base-uncased").pooling == "cls"
    with pytest.raises(ValueError, match="parameter 'pooling' must be one of cls, mean"):
        Recipe(pooling="max")
    recipe = Recipe(task="rte", model=str(checkpoint), pooling="mean")
    model, info = fresh_model(recipe, seed=0)
    assert isinstance(model, MeanPooledClassifier) and info["pooling"] == "mean"
    model, info = fresh_model(recipe.replace(pooling="cls"), seed=0)
    assert type(model) is BertForSequenceClassification and info["pooling"] == "cls"


@pytest.mark.slow
def test_offline_model_mean_pooling_ignores_padding():
    model, tokenizer, info = load_model(OFFLINE_MODEL, "rt-sentiment", seed=0, pooling="mean")
    assert info["dropped_pretrained_weights"] == 2 and info["newly_initialized"] == [
        "classifier.bias",
        "classifier.weight",
    ]
    short = tokenizer(["a gripping, funny film"], return_tensors="pt")
    batch = tokenizer(
        ["a gripping, funny film", "the plot never quite comes together, but the actors carry it"],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        alone = model(**short).logits
        padded_logits = model(**batch).logits
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # row 0 is padded
    assert (alone[0] - padded_logits[0]).abs().max() <= 1e-6
