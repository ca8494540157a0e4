import pytest
import torch
from conftest import tiny_model
from transformers import BertConfig, BertForSequenceClassification

from ticketlib.core.config import PrunableSet
from ticketlib.core.prunable import architecture_fingerprint, layer_of, prunable_parameters


def test_bert_base_prunable_set_is_the_papers():
    with torch.device("meta"):
        model = BertForSequenceClassification(BertConfig())
    params = prunable_parameters(model)
    assert len(params) == 73
    assert sum(p.numel() for p in params.values()) == 85_524_480
    assert list(params)[:6] == [
        f"encoder.layer.0.{n}.weight"
        for n in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "intermediate.dense",
            "output.dense",
        )
    ]
    assert list(params)[-1] == "pooler.dense.weight"


@pytest.mark.parametrize("layers", [1, 3])
def test_set_follows_depth_and_never_holds_embeddings_norms_biases_or_heads(layers):
    params = prunable_parameters(tiny_model(layers=layers))
    assert len(params) == 6 * layers + 1
    for key in params:
        assert key.endswith(".weight") and "LayerNorm" not in key and "embeddings" not in key
        assert not key.startswith(("classifier", "cls", "qa_outputs", "bert."))


def test_same_encoder_keys_for_every_head():
    keys = {head: list(prunable_parameters(tiny_model(head))) for head in ("cls", "qa", "mlm")}
    assert keys["cls"][:-1] == keys["qa"] == keys["mlm"]  # MLM and QA models have no pooler
    assert keys["cls"][-1] == "pooler.dense.weight"


def test_pooler_option_and_exclude():
    model = tiny_model()
    assert "pooler.dense.weight" not in prunable_parameters(model, PrunableSet(include_pooler=False))
    no_attention = prunable_parameters(model, PrunableSet(exclude=(r"attention\.self",)))
    assert len(no_attention) == 2 * 3 + 1
    with pytest.raises(ValueError, match="empty"):
        prunable_parameters(model, PrunableSet(include_pooler=False, exclude=(".",)))


def test_fingerprint_and_layer_grouping():
    assert architecture_fingerprint(tiny_model("cls")) == architecture_fingerprint(tiny_model("mlm"))
    assert architecture_fingerprint(tiny_model()) != architecture_fingerprint(tiny_model(layers=3))
    assert layer_of("encoder.layer.11.output.dense.weight") == "encoder.layer.11"
    assert layer_of("pooler.dense.weight") == "pooler"
