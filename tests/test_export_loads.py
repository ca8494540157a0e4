"""Every export kind loads with the call `ticketlib export` prints, run literally: the outputs
equal the masked model's within 1e-5, nothing loads as missing or newly initialised, and the
card says what the head is (tiny models; the offline MiniLM in the slow tests)."""

import contextlib
import io
import logging

import pytest
import torch
import yaml
from conftest import synthetic_features, tiny_config
from data_fixtures import tiny_tokenizer
from transformers import BertForSequenceClassification, BertModel

from ticketlib.cli.main import main
from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig
from ticketlib.core.contrastive import SentenceEncoder
from ticketlib.core.imp import run_imp
from ticketlib.core.pooling import MeanPooledClassifier
from ticketlib.foundations.atomic import write_json
from ticketlib.foundations.paths import RUN_FILE
from ticketlib.tickets import export

TEXTS = ["a good film", "bad", "the film was not good at all"]
LOADERS = ("transformers", "sentence_transformers")


def head_config(labels):
    config = tiny_config()
    config.num_labels = labels
    config.problem_type = "regression" if labels == 1 else "single_label_classification"
    return config


def cls_model(labels=2):
    torch.manual_seed(0)
    config = head_config(labels)
    return BertForSequenceClassification(config).eval()


def mean_model(labels=2):
    torch.manual_seed(0)
    config = head_config(labels)
    return MeanPooledClassifier(BertModel(config, add_pooling_layer=False)).eval()


def encoder_model():
    torch.manual_seed(0)
    return SentenceEncoder(BertModel(tiny_config(), add_pooling_layer=False)).eval()


KINDS = {  # name: (model factory, task, what the printed call gives)
    "cls-classifier": (cls_model, "rt-sentiment", "logits"),
    "cls-regressor": (lambda: cls_model(1), "rt-sentiment-score", "logits"),
    "mean-classifier": (mean_model, "rt-sentiment", "logits"),
    "mean-regressor": (lambda: mean_model(1), "rt-sentiment-score", "logits"),
    "sentence-encoder": (encoder_model, "squad-retrieval", "embeddings"),
}


def make_run(tmp_path, factory, task, granularity="weights", store_heads=True):
    """A find_tickets-like run folder (run.json + imp/ with 2 levels) of `factory`'s model."""
    run = tmp_path / "run"
    features = synthetic_features()
    if task.endswith("score"):
        features = [{**f, "labels": float(f["labels"])} for f in features]
    config = IMPConfig(
        prune=PruneConfig(levels=2, rate=0.2, granularity=granularity),
        train=TrainConfig(learning_rate=1e-3, max_steps=3, batch_size=16, progress=False),
    )
    model = factory()
    if isinstance(model, SentenceEncoder):  # its training needs pairs: any mask fits the encoder
        model = mean_model()
    run_imp(
        model,
        features,
        lambda m: {"accuracy": 0.75},
        config,
        run / "imp",
        metadata={"task": task, "model": "offline-minilm"},
    )
    write_json(
        run / RUN_FILE,
        {
            "experiment": "find_tickets",
            "recipe": {"task": task, "levels": 2, "rate": 0.2, "seed": 0, "granularity": granularity},
        },
    )
    if not store_heads:  # a run made before heads were stored for every head policy
        for head in (run / "imp").glob("level_*/head.safetensors"):
            head.unlink()
    return run


@contextlib.contextmanager
def load_log():
    """Everything transformers and sentence-transformers log while loading (warnings included)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    loggers = [logging.getLogger(name) for name in LOADERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)


def run_printed(call: str):
    """Run a printed load call literally; returns its `model` and the load's log."""
    namespace = {}
    with load_log() as log:
        exec(call, namespace)
    return namespace["model"], log.getvalue()


def expected_outputs(masked, tokenizer, what):
    inputs = tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        if what == "embeddings":
            return masked.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
        return masked(**inputs).logits


def loaded_outputs(model, tokenizer):
    if type(model).__name__ == "SentenceTransformer":
        return model.encode(TEXTS, convert_to_tensor=True)
    with torch.no_grad():
        return model(**tokenizer(TEXTS, return_tensors="pt", padding=True)).logits


def printed_calls(capsys, run, out, level=2):
    assert main(["export", str(run), "--level", str(level), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    calls = [line.split(": ", 1)[1] for line in printed.out.splitlines() if line.startswith("load ")]
    return calls, printed


def export_and_calls(tmp_path, capsys, monkeypatch, kind, granularity="weights", store_heads=True):
    """Export a tiny run through the CLI (the model and tokenizer given as a run's recipe would
    build them); returns the masked model, the tokenizer, the printed calls and the output."""
    factory, task, _ = KINDS[kind]
    run = make_run(tmp_path, factory, task, granularity, store_heads)
    tokenizer = tiny_tokenizer(tmp_path / "tok")
    masked = factory()
    real_export = export.export
    monkeypatch.setattr(export, "export", lambda *a, **k: real_export(*a, model=masked, tokenizer=tokenizer, **k))
    calls, printed = printed_calls(capsys, run, tmp_path / "out")
    return masked, tokenizer, calls, printed, run


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_export_kind_loads_with_the_printed_call(tmp_path, capsys, monkeypatch, kind):
    masked, tokenizer, calls, printed, run = export_and_calls(tmp_path, capsys, monkeypatch, kind)
    assert len(calls) == 1
    assert ("SentenceTransformer(" in calls[0]) == kind.startswith(("mean", "sentence"))
    model, log = run_printed(calls[0])
    for word in ("MISSING", "newly initialized", "not initialized", "UNEXPECTED"):
        assert word.lower() not in log.lower(), log
    got, expected = loaded_outputs(model, tokenizer), expected_outputs(masked, tokenizer, KINDS[kind][2])
    assert got.shape == expected.shape and (got - expected).abs().max() < 1e-5
    card = (tmp_path / "out" / "README.md").read_text()
    head = yaml.safe_load(card.split("---\n")[1])["ticket"]["head"]
    if kind == "sentence-encoder":
        assert head.startswith("no task head")
    else:
        assert head.startswith("the head trained at level 2")
        from safetensors.torch import load_file

        trained = load_file(str(run / "imp" / "level_02" / "head.safetensors"))["classifier.weight"]
        assert torch.equal(masked.classifier.weight, trained)  # what was compared is the trained head
    assert "NOT fine-tuned" in card and "theta_0" in card and "load_model(" not in card
    assert "warning" not in printed.err


@pytest.mark.parametrize("kind", ["cls-classifier", "mean-classifier", "sentence-encoder"])
@pytest.mark.parametrize("granularity", ["heads+neurons"])
def test_the_shrunk_structured_ticket_loads_with_its_printed_call(tmp_path, capsys, monkeypatch, kind, granularity):
    masked, tokenizer, calls, _, _ = export_and_calls(tmp_path, capsys, monkeypatch, kind, granularity)
    assert len(calls) == 2 and "shrunk" in calls[1]
    model, log = run_printed(calls[1])
    assert "missing" not in log.lower() and "newly initialized" not in log.lower(), log
    got, expected = loaded_outputs(model, tokenizer), expected_outputs(masked, tokenizer, KINDS[kind][2])
    assert (got - expected).abs().max() < 1e-5
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in masked.parameters())
    if kind != "cls-classifier":
        rebuilt = export.load_shrunk_mean_pooled(tmp_path / "out")
        inputs = tokenizer(TEXTS, return_tensors="pt", padding=True)
        with torch.no_grad():
            mine = rebuilt.encode(**inputs) if kind == "sentence-encoder" else rebuilt(**inputs).logits
        assert (mine - expected).abs().max() < 1e-5


def test_a_mean_pooled_classifier_takes_pairs_as_tuples(tmp_path, capsys, monkeypatch):
    """Pair tasks (QNLI, STS-B): a tuple is tokenized as the task's pairs are (text_a, text_b)."""
    masked, tokenizer, calls, _, _ = export_and_calls(tmp_path, capsys, monkeypatch, "mean-classifier")
    model, _ = run_printed(calls[0])
    pairs = [("a good film", "bad"), ("the film", "was not good at all")]
    inputs = tokenizer([a for a, _ in pairs], [b for _, b in pairs], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = masked(**inputs).logits
    assert (model.encode(pairs, convert_to_tensor=True) - expected).abs().max() < 1e-5


def test_a_run_without_stored_heads_says_so_in_the_card_and_on_the_terminal(tmp_path, capsys, monkeypatch):
    masked, tokenizer, calls, printed, _ = export_and_calls(
        tmp_path, capsys, monkeypatch, "mean-classifier", store_heads=False
    )
    assert "warning: NO TRAINED HEAD" in printed.err
    card = (tmp_path / "out" / "README.md").read_text()
    assert "NO TRAINED HEAD" in yaml.safe_load(card.split("---\n")[1])["ticket"]["head"]


def test_the_card_metrics_are_the_run_rows(tmp_path, capsys, monkeypatch):
    """The card's numbers are read from the run's rows.csv, not recomputed."""
    import pandas as pd

    factory, task, _ = KINDS["cls-classifier"]
    run = make_run(tmp_path, factory, task)
    pd.DataFrame(
        [
            {"method": "imp", "level": 2, "seed": 0, "metric": "accuracy", "value": 0.8125},
            {"method": "imp", "level": 1, "seed": 0, "metric": "accuracy", "value": 0.5},
        ]
    ).to_csv(run / "rows.csv", index=False)
    out = export.export(run, 2, tmp_path / "out", model=factory())
    card = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert card["ticket"]["metrics"] == [{"seed": 0, "level": 2, "accuracy": 0.8125}]


def test_a_mean_pooled_export_is_honest_to_plain_transformers(tmp_path):
    """config.json names the base model the folder holds, and a classifier class asked of it
    reports its missing classifier loudly instead of loading silently."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    factory, task, _ = KINDS["mean-classifier"]
    out = export.export(
        make_run(tmp_path, factory, task),
        2,
        tmp_path / "out",
        model=factory(),
        tokenizer=tiny_tokenizer(tmp_path / "tok"),
    )
    assert AutoConfig.from_pretrained(str(out)).architectures == ["BertModel"]
    with load_log() as log:
        encoder = AutoModel.from_pretrained(str(out))  # the encoder alone: complete, its unused pooler zero
    assert "missing" not in log.getvalue().lower() and not encoder.pooler.dense.weight.any()
    with load_log() as log:
        AutoModelForSequenceClassification.from_pretrained(str(out))
    assert "classifier" in log.getvalue() and "missing" in log.getvalue().lower()


def minilm_run(tmp_path, task, granularity):
    """A run folder of the offline MiniLM, mean-pooled (the quick study's recipe): a level-1 mask
    of `granularity` and, for a head, a stored 'trained' head that differs from the seeded one."""
    from safetensors.torch import save_file

    from ticketlib.core.mask_io import save_mask
    from ticketlib.core.structured import prune
    from ticketlib.foundations.paths import level_dir
    from ticketlib.tasks.models import load_model
    from ticketlib.tasks.params import Recipe

    recipe = Recipe(task=task, pooling="mean", include_pooler=False, granularity=granularity)
    spec = recipe.prune_config().spec()
    model, tokenizer, _ = load_model(recipe.model, task, seed=recipe.seed, pooling="mean")
    mask = prune(model, 0.3, granularity, spec)
    here = level_dir(tmp_path / "run" / "imp", 1)
    save_mask(here / "mask.safetensors", mask, level=1, seed=0, task=task, model=recipe.model, granularity=granularity)
    if hasattr(model, "classifier"):
        torch.manual_seed(5)
        head = {
            "classifier.weight": torch.randn_like(model.classifier.weight),
            "classifier.bias": torch.randn_like(model.classifier.bias),
        }
        save_file(head, str(here / "head.safetensors"))
        model.classifier.load_state_dict({k.removeprefix("classifier."): v for k, v in head.items()})
    write_json(here / "level.json", {"level": 1, "metrics": {"accuracy": 0.5}})
    write_json(tmp_path / "run" / RUN_FILE, {"experiment": "find_tickets", "recipe": recipe.as_dict()})
    from ticketlib.tickets.ticket_folder import apply_mask

    apply_mask(mask, None, model, spec)
    return tmp_path / "run", model.eval(), tokenizer


@pytest.mark.slow
@pytest.mark.parametrize("task, what", [("rt-sentiment", "logits"), ("squad-retrieval", "embeddings")])
def test_minilm_mean_pooled_exports_load_with_the_printed_calls(tmp_path, capsys, task, what):
    """The quick study's kind of ticket, on the real offline MiniLM: the masked and the shrunk
    model load with the printed calls, outputs within 1e-5 of the masked model's, nothing missing."""
    run, masked, tokenizer = minilm_run(tmp_path, task, "heads+neurons")
    calls, printed = printed_calls(capsys, run, tmp_path / "out", level=1)
    assert len(calls) == 2 and "warning" not in printed.err
    texts = ["a gripping, beautifully acted film", "dull and far too long", "what is the capital of France?"]
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = masked(**inputs).logits if what == "logits" else masked.encode(**inputs)
    for call in calls:
        model, log = run_printed(call)
        assert "missing" not in log.lower() and "newly initialized" not in log.lower(), log
        assert (model.encode(texts, convert_to_tensor=True) - expected).abs().max() < 1e-5


@pytest.mark.parametrize("head", ["qa", "mlm"])
def test_other_transformers_heads_get_their_auto_class(tmp_path, head):
    """QA and MLM tickets are transformers checkpoints too: the printed call names their class."""
    from conftest import tiny_model

    tiny_model(head).save_pretrained(str(tmp_path / head))
    call = export.load_calls(tmp_path / head)["."]
    assert {"qa": "AutoModelForQuestionAnswering", "mlm": "AutoModelForMaskedLM"}[head] in call
    model, log = run_printed(call)
    assert "missing" not in log.lower() and type(model).__name__ == type(tiny_model(head)).__name__
