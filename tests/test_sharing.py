"""Sharing tickets: save_pretrained/from_pretrained/apply round trip, the card, export."""

import json

import pytest
import torch
import yaml
from conftest import synthetic_features, tiny_model
from transformers import AutoModelForSequenceClassification

from ticketlib.core.config import IMPConfig, PruneConfig, TrainConfig
from ticketlib.core.imp import run_imp
from ticketlib.core.mask_io import load_mask
from ticketlib.core.prunable import prunable_parameters
from ticketlib.core.shrink import load_shrunk
from ticketlib.core.structured import prune
from ticketlib.foundations.atomic import write_json
from ticketlib.foundations.paths import MASK_FILE, RUN_FILE
from ticketlib.tickets import export, ticket_folder
from ticketlib.tickets.ticket import Ticket, load_ticket


def front_matter(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def make_run(tmp_path, granularity="weights", head_policy="reinit"):
    """A find_tickets-like run folder (run.json + imp/) from a tiny model, 2 levels."""
    run = tmp_path / "run"
    config = IMPConfig(
        prune=PruneConfig(levels=2, rate=0.2, granularity=granularity),
        train=TrainConfig(learning_rate=1e-3, max_steps=3, batch_size=16, progress=False),
        head_policy=head_policy,
    )
    run_imp(
        tiny_model(),
        synthetic_features(),
        lambda m: {"accuracy": 0.75},
        config,
        run / "imp",
        metadata={"task": "rt-sentiment", "model": "offline-minilm"},
    )
    write_json(
        run / RUN_FILE,
        {
            "experiment": "find_tickets",
            "recipe": {"task": "rt-sentiment", "levels": 2, "rate": 0.2, "include_pooler": True, "seed": 0},
        },
    )
    return run


def test_save_and_load_round_trip_bit_for_bit(tmp_path):
    run = make_run(tmp_path)
    ticket = load_ticket(run, 2)
    folder = ticket.save_pretrained(tmp_path / "shared")
    assert (folder / MASK_FILE).read_bytes() == (run / "imp" / "level_02" / MASK_FILE).read_bytes()
    loaded = Ticket.from_pretrained(folder)
    assert loaded.mask.keys() == ticket.mask.keys()
    assert all(torch.equal(loaded.mask[k], ticket.mask[k]) for k in ticket.mask)
    assert loaded.meta == ticket.meta and loaded.level == 2
    meta = front_matter((folder / "README.md").read_text())
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["pipeline_tag"] == "text-classification" and "lottery-ticket" in meta["tags"]
    assert meta["ticket"]["sparsity"] == pytest.approx(ticket.sparsity, abs=1e-6)
    assert meta["ticket"]["granularity"] == "weights" and meta["ticket"]["level"] == 2
    assert meta["ticket"]["metrics"] == [{"seed": 0, "level": 2, "accuracy": 0.75}]
    assert meta["ticket"]["reproduce"].startswith("python -m ticketlib imp")
    assert "--include-pooler" in meta["ticket"]["reproduce"]


def test_apply_zeroes_exactly_the_masked_weights_and_checks_the_fit(tmp_path):
    model = tiny_model(seed=1)
    mask = prune(model, 0.5)
    ticket = Ticket(mask, {}, tmp_path / "x")
    before = {k: p.detach().clone() for k, p in prunable_parameters(model).items()}
    ticket.apply(model)
    for key, param in prunable_parameters(model).items():
        assert torch.equal(param.detach(), before[key] * mask[key])
    with pytest.raises(ValueError, match="does not fit"):
        ticket.apply(tiny_model(hidden=64))


def test_from_pretrained_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no mask.safetensors"):
        Ticket.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a hub id"):
        Ticket.from_pretrained(tmp_path / "missing")
    monkeypatch.setattr(ticket_folder, "hub_unavailable_reason", lambda: "cannot resolve huggingface.co: no network")
    with pytest.raises(ConnectionError, match="no network"):
        Ticket.from_pretrained("someone/a-ticket")
    with pytest.raises(ConnectionError, match="no network"):
        ticket_folder.push_to_hub(tmp_path, "someone/a-ticket")


@pytest.mark.parametrize("granularity", ["weights", "neurons"])
def test_export_is_a_plain_transformers_checkpoint_with_zeros_where_the_mask_is_zero(tmp_path, granularity):
    run = make_run(tmp_path, granularity, head_policy="keep")
    out = export.export(run, 2, tmp_path / "export", model=tiny_model())
    loaded = AutoModelForSequenceClassification.from_pretrained(str(out))
    theta0 = tiny_model()
    mask, _ = load_mask(out / MASK_FILE)
    params, original = prunable_parameters(loaded), prunable_parameters(theta0)
    for key, keep in mask.items():
        assert torch.equal(params[key].detach() == 0, ~keep | (original[key].detach() == 0))
        assert torch.equal(params[key].detach(), original[key].detach() * keep)
    from safetensors.torch import load_file

    head = load_file(str(run / "imp" / "level_02" / "head.safetensors"))
    assert torch.equal(loaded.classifier.weight, head["classifier.weight"])
    text = (out / "README.md").read_text()
    assert "NOT fine-tuned" in text and front_matter(text)["ticket"]["granularity"] == granularity
    if granularity == "neurons":
        shrunk = load_shrunk(out / "shrunk")
        assert json.loads((out / "shrunk" / "shrink.json").read_text())["intermediate_sizes"] == [
            int(shrunk.bert.encoder.layer[i].intermediate.dense.out_features) for i in range(2)
        ]
        ids = torch.tensor([[2, 9, 7, 11, 3]])
        with torch.no_grad():
            assert (shrunk(input_ids=ids).logits - loaded(input_ids=ids).logits).abs().max() < 1e-5
        assert sum(int(layer.intermediate.dense.out_features) for layer in shrunk.bert.encoder.layer) < 2 * 64
    else:
        assert not (out / "shrunk").exists()


@pytest.mark.slow
def test_cli_export_of_a_minilm_run_loads_in_plain_transformers(tmp_path):
    """`ticketlib export` builds theta_0 from the run's recipe (offline MiniLM), applies the
    level's mask and writes a folder AutoModelForSequenceClassification loads."""
    from ticketlib.cli.main import main
    from ticketlib.core.config import PrunableSet
    from ticketlib.core.mask_io import save_mask
    from ticketlib.foundations.paths import level_dir
    from ticketlib.tasks.models import load_model
    from ticketlib.tasks.params import Recipe

    recipe = Recipe(pooling="cls")  # [CLS] through the pooler: Hugging Face's own classifier
    spec = PrunableSet(include_pooler=recipe.include_pooler)
    theta0, _, _ = load_model(recipe.model, recipe.task, seed=recipe.seed)
    mask = prune(theta0, 0.3, "heads+neurons", spec)
    run = tmp_path / "run"
    save_mask(
        level_dir(run / "imp", 1) / MASK_FILE,
        mask,
        level=1,
        seed=0,
        task=recipe.task,
        model=recipe.model,
        granularity="heads+neurons",
    )
    write_json(level_dir(run / "imp", 1) / "level.json", {"level": 1, "metrics": {"accuracy": 0.5}})
    write_json(run / RUN_FILE, {"experiment": "find_tickets", "recipe": recipe.as_dict()})
    assert main(["export", str(run), "--level", "1", "--out", str(tmp_path / "out")]) == 0
    loaded = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "out"))
    params, original = prunable_parameters(loaded, spec), prunable_parameters(theta0, spec)
    for key, keep in mask.items():
        assert torch.equal(params[key].detach(), original[key].detach() * keep)
    assert torch.equal(loaded.classifier.weight, theta0.classifier.weight)  # the run's seeded head: it stored none
    assert "NO TRAINED HEAD" in front_matter((tmp_path / "out" / "README.md").read_text())["ticket"]["head"]
    shrunk = load_shrunk(tmp_path / "out" / "shrunk")
    ids = torch.tensor([[101, 2023, 3185, 2001, 2307, 102]])
    with torch.no_grad():
        assert (shrunk(input_ids=ids).logits - loaded(input_ids=ids).logits).abs().max() < 1e-5


@pytest.mark.slow
def test_cli_export_fine_tune_trains_the_ticket_and_keeps_its_zeros(tmp_path):
    from ticketlib.cli.main import main
    from ticketlib.core.config import PrunableSet
    from ticketlib.core.mask_io import save_mask
    from ticketlib.foundations.paths import level_dir
    from ticketlib.tasks.models import load_model
    from ticketlib.tasks.params import Recipe

    recipe = Recipe(max_train_examples=64, max_eval_examples=32, max_steps=2, pooling="cls")
    spec = PrunableSet(include_pooler=recipe.include_pooler)
    theta0, _, _ = load_model(recipe.model, recipe.task, seed=recipe.seed)
    mask = prune(theta0, 0.4, "weights", spec)
    run = tmp_path / "run"
    save_mask(level_dir(run / "imp", 1) / MASK_FILE, mask, level=1, seed=0, task=recipe.task, model=recipe.model)
    write_json(level_dir(run / "imp", 1) / "level.json", {"level": 1, "metrics": {"accuracy": 0.5}})
    write_json(run / RUN_FILE, {"experiment": "find_tickets", "recipe": recipe.as_dict()})
    assert main(["export", str(run), "--level", "1", "--out", str(tmp_path / "out"), "--fine-tune"]) == 0
    loaded = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "out"))
    params, original = prunable_parameters(loaded, spec), prunable_parameters(theta0, spec)
    for key, keep in mask.items():
        assert not params[key].detach()[~keep].any()
    changed = [k for k in mask if not torch.equal(params[k].detach(), original[k].detach() * mask[k])]
    assert changed  # trained
    card = front_matter((tmp_path / "out" / "README.md").read_text())
    assert card["ticket"]["metrics"][0]["seed"] == 0 and "accuracy" in card["ticket"]["metrics"][0]
    assert "Fine-tuned" in (tmp_path / "out" / "README.md").read_text()
    assert card["ticket"]["run_metrics"] == [{"seed": 0, "level": 1, "accuracy": 0.5}]  # the run's, beside it
