"""Model loading: heads per task, layer truncation, the info dict, clear errors without a network."""

import time

import pytest
from transformers import BertConfig, BertModel

from data_fixtures import tiny_tokenizer
from ticketlib.models import ModelUnavailableError, load_model


@pytest.fixture
def checkpoint(tmp_path):
    """A local BertModel checkpoint without any head (like the offline MiniLM), with its tokenizer."""
    folder = tmp_path / "tiny-bert"
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    tiny_tokenizer(tmp_path / "tok").save_pretrained(folder)
    return folder


@pytest.mark.parametrize("task, cls, labels", [("rte", "BertForSequenceClassification", 2),
                                               ("mnli", "BertForSequenceClassification", 3),
                                               ("stsb", "BertForSequenceClassification", 1),
                                               ("squad", "BertForQuestionAnswering", None)])
def test_each_head(checkpoint, task, cls, labels):
    model, tokenizer, info = load_model(checkpoint, task, seed=0)
    assert type(model).__name__ == cls and info["model_class"] == cls and info["origin"] == "local folder"
    if labels:
        assert model.config.num_labels == labels
    if task == "stsb":
        assert model.config.problem_type == "regression"
    assert tokenizer.is_fast and not model.training


def test_mlm_head_missing_is_warned_and_recorded(checkpoint):
    with pytest.warns(UserWarning, match="no MLM head"):
        model, _, info = load_model(checkpoint, "wiki-mlm")
    assert type(model).__name__ == "BertForMaskedLM"
    assert any("cls.predictions" in k for k in info["newly_initialized"]) and info["warnings"]


def test_num_layers_keeps_the_first_layers(checkpoint):
    model, _, info = load_model(checkpoint, "rte", num_layers=1)
    full, _, _ = load_model(checkpoint, "rte")
    assert len(model.bert.encoder.layer) == 1 and info["num_layers_pretrained"] == 3
    assert (model.bert.encoder.layer[0].output.dense.weight == full.bert.encoder.layer[0].output.dense.weight).all()
    with pytest.raises(ValueError, match=r"num_layers must be in 1..3"):
        load_model(checkpoint, "rte", num_layers=4)


def test_seed_makes_the_new_head_deterministic(checkpoint):
    a, _, _ = load_model(checkpoint, "rte", seed=1)
    b, _, _ = load_model(checkpoint, "rte", seed=1)
    assert (a.classifier.weight == b.classifier.weight).all()


def test_unreachable_hub_name_fails_at_once_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as error:
        load_model("bert-base-uncased", "rte")
    assert time.perf_counter() - start < 2
    message = str(error.value)
    assert "\n" not in message and "bert-base-uncased" in message and "offline-minilm" in message


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        load_model(tmp_path, "rte")
