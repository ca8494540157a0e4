"""Model loading: heads per task, layer truncation, the info dict, clear errors without a network."""

import pytest
import torch
from data_fixtures import tiny_tokenizer
from transformers import BertConfig, BertModel

from ticketlib.tasks.models import ModelUnavailableError, load_model


@pytest.fixture
def checkpoint(tmp_path):
    """A local BertModel checkpoint without any head (like the offline MiniLM), with its tokenizer."""
    folder = tmp_path / "tiny-bert"
    config = BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    tiny_tokenizer(tmp_path / "tok").save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    "task, cls, labels",
    [
        ("rte", "BertForSequenceClassification", 2),
        ("mnli", "BertForSequenceClassification", 3),
        ("stsb", "BertForSequenceClassification", 1),
        ("squad", "BertForQuestionAnswering", None),
    ],
)
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


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_seed_decides_the_new_head_for_each_pooling(checkpoint, pooling):
    """The same seed gives the same head, another seed a different head in every weight, and the
    pre-trained encoder is the checkpoint's whatever the seed."""
    a, _, _ = load_model(checkpoint, "rte", seed=1, pooling=pooling)
    b, _, _ = load_model(checkpoint, "rte", seed=1, pooling=pooling)
    c, _, _ = load_model(checkpoint, "rte", seed=2, pooling=pooling)
    assert torch.equal(a.classifier.weight, b.classifier.weight) and torch.equal(a.classifier.bias, b.classifier.bias)
    assert (a.classifier.weight != c.classifier.weight).all()  # a head that ignored the seed would repeat
    encoder = "encoder.layer.0.output.dense.weight"
    assert torch.equal(a.get_parameter(f"bert.{encoder}"), c.get_parameter(f"bert.{encoder}"))
    torch.manual_seed(123)  # the RNG's state before loading does not matter either
    d, _, _ = load_model(checkpoint, "rte", seed=1, pooling=pooling)
    assert torch.equal(a.classifier.weight, d.classifier.weight)


def test_unreachable_hub_name_fails_at_once_in_one_line(monkeypatch, network_attempts):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as error:
        load_model("bert-base-uncased", "rte")
    # At once: the flag came after huggingface_hub's import, so one DNS lookup (ticketlib.foundations.hub)
    # decides; no connection, so no download and none of its retries.
    assert [kind for kind, _ in network_attempts] in ([], ["lookup"])
    message = str(error.value)
    assert "\n" not in message and "bert-base-uncased" in message and "offline-minilm" in message


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        load_model(tmp_path, "rte")


def test_offline_flag_serves_a_model_from_the_hugging_face_cache(checkpoint, tmp_path):
    """HF_HUB_OFFLINE=1 set before Python starts (a cluster node after a download on the login
    node): a hub name that is in the local cache loads from it; one that is not fails at once."""
    import os
    import shutil
    import subprocess
    import sys

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-bert"
    shutil.copytree(checkpoint, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    # Every name lookup and socket connect is counted: the offline path must try none (a retrying download
    # would be caught here however fast or slow the machine is).
    script = (
        "import socket\nattempts = []\n"
        "def refuse(*args, **kwargs):\n    attempts.append(args)\n    raise OSError('no network in this test')\n"
        "socket.getaddrinfo = socket.socket.connect = refuse\n"
        "from ticketlib.tasks.models import ModelUnavailableError, load_model\n"
        "model, _, info = load_model('tiny-org/tiny-bert', 'rte', seed=0)\n"
        "print(info['origin'], model.config.num_hidden_layers)\n"
        "try:\n    load_model('tiny-org/not-downloaded', 'rte')\n"
        "except ModelUnavailableError as error:\n    print('REFUSED', error)\n"
        "print('CONNECTS', len(attempts))\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "Hugging Face cache (HF_HUB_OFFLINE is set) 3"
    assert lines[1].startswith("REFUSED cannot load model 'tiny-org/not-downloaded'")
    assert "not in the local Hugging Face cache" in lines[1]
    assert lines[2] == "CONNECTS 0"
