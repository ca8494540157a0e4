"""Exporting a ticket: `ticketlib export RUN --level N --out DIR`.

`export(run, level, out)` writes a folder that loads with one call, printed by `load_calls`
(and by `ticketlib export`), with zeros exactly where the mask is 0:

- a [CLS]-pooled model (Hugging Face's own *ForSequenceClassification, QA, MLM): its checkpoint,
  `AutoModelFor<Task>.from_pretrained(DIR)`;
- a mean-pooled model (pooling "mean", or squad-retrieval's sentence encoder), which no
  transformers class pools: a sentence-transformers folder (ticketlib.tickets.sentence_folder),
  `SentenceTransformer(DIR)`, whose `encode` gives the embeddings, or the logits through the
  trained head (a Dense module). The encoder is saved as a plain BertModel (config.json says
  so) whose pooler, which mean pooling never uses, is zeros, so that nothing loads as missing;
- a structured ticket also gets its shrunk model in ``shrunk/`` (pruned heads and neurons
  removed): `ticketlib.core.shrink.load_shrunk(DIR/shrunk)`, or for a mean-pooled one a
  sentence-transformers folder, `SentenceTransformer(DIR/shrunk, trust_remote_code=True)`;
- ``mask.safetensors`` and the model card ``README.md`` (ticketlib.tickets.ticket_folder).

What the weights are: IMP level folders keep the mask, the metrics and the trained head (every
run since heads were stored for every head policy), not the fine-tuned encoder. So the export is
the ticket as the paper defines it, theta_0 (the pre-trained weights) with the mask applied,
plus the head trained at that level; the card says so, and its metrics are the run's own (its
rows.csv). A run that stored no head gets the run's seeded initial head, and the card and
`ticketlib export` say loudly that it is untrained. With `fine_tune=True` the ticket is first
fine-tuned with the run's recipe and seed (the standard recipe of `imp.evaluate_ticket`, the
"imp" method of the baselines), and the card records that fine-tuning's metrics beside the run's.
"""

from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path

import torch
from torch import nn

from ticketlib.core.config import PrunableSet
from ticketlib.core.units import units_from_mask
from ticketlib.foundations.atomic import follow_umask, read_json
from ticketlib.foundations.paths import CARD_FILE, HEAD_FILE, IMP_DIR, ROWS_FILE, RUN_FILE, level_dir
from ticketlib.tickets.sentence_folder import is_sentence_folder, write_sentence_folder
from ticketlib.tickets.ticket import imp_folder, load_ticket, ticket_facts
from ticketlib.tickets.ticket_folder import (  # noqa: F401  (push_to_hub: part of the API)
    apply_mask,
    push_to_hub,
    save_folder,
)

SHRUNK_DIR = "shrunk"
# transformers' Auto class for a checkpoint's architecture suffix
AUTO_CLASSES = {
    "ForSequenceClassification": "AutoModelForSequenceClassification",
    "ForQuestionAnswering": "AutoModelForQuestionAnswering",
    "ForMaskedLM": "AutoModelForMaskedLM",
}


def export(
    run: str | os.PathLike,
    level: int,
    out: str | os.PathLike,
    model: nn.Module | None = None,
    tokenizer=None,
    fine_tune: bool = False,
) -> Path:
    """Write the ticket of `run` at `level` as a folder that loads with `load_calls(out)` (see
    the module docstring). `model` (theta_0 with a head, e.g. from tests) and `tokenizer` are
    built from the run's recipe when not given."""
    run, out = Path(run), Path(out)
    ticket = load_ticket(run, level)
    recipe = _recipe(run)
    if model is None:
        if recipe is None:
            raise ValueError(f"{run}: no {RUN_FILE} with a recipe, so the model cannot be built")
        from ticketlib.tasks.models import load_tokenizer
        from ticketlib.tasks.run_inputs import fresh_model

        model, _ = fresh_model(recipe, seed=recipe.seed)
        tokenizer = tokenizer or load_tokenizer(recipe.model)
    spec = recipe.prune_config().spec() if recipe is not None else PrunableSet()
    head = _load_level_head(model, run, level)
    apply_mask(ticket.mask, ticket.meta, model, spec)
    facts = ticket_facts(ticket)
    facts["metrics"] = _run_metrics(run, level, facts["metrics"])
    if fine_tune:
        note, head = _fine_tune(model, ticket, recipe, spec, facts, level)
    else:
        note = (
            "NOT fine-tuned: theta_0 (the pre-trained weights) with the mask applied (zeros exactly where "
            f"the mask is 0), plus {head}. The metrics above are the run's own (its fine-tuned weights, which "
            "the run does not store); `ticketlib export --fine-tune` trains this ticket once more."
        )
    facts["head"] = head
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    max_length = _max_length(recipe)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(str(out))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(out))
    else:  # ticketlib's mean-pooled models: a sentence-transformers folder
        _need_tokenizer(tokenizer)
        _encoder_with_pooler(model.base_model).save_pretrained(str(out))
        write_sentence_folder(out, tokenizer, getattr(model, "classifier", None), max_length)
        note += (
            "\n\nThe encoder is saved as a plain base model (config.json) whose pooler is zeros: mean pooling "
            "does not use it, and loading finds no missing weights."
        )
    if facts["granularity"] != "weights":
        note += _save_shrunk(
            model, units_from_mask(ticket.mask, model, spec), spec, out / SHRUNK_DIR, tokenizer, max_length
        )
    facts["library"] = "sentence-transformers" if is_sentence_folder(out) else "transformers"
    note += "\n\n" + usage(out, relative=True)
    save_folder(out, ticket.mask, ticket.meta, ticket.path, facts, weights_note=note)
    follow_umask(out)  # transformers' and safetensors' files are owner-only: like any file, they follow the umask
    return out


def _recipe(run: Path):
    info = read_json(run / RUN_FILE) if (run / RUN_FILE).is_file() else {}
    if not info.get("recipe"):
        return None
    from ticketlib.tasks.params import Recipe

    return Recipe.from_namespace(info["recipe"])


def _max_length(recipe) -> int | None:
    """The run's truncation length (ticketlib.tasks.data: the recipe's, else the task's)."""
    if recipe is None:
        return None
    from ticketlib.tasks.registry import get_task

    return recipe.max_length or get_task(recipe.task).hparams.max_length


def _load_level_head(model: nn.Module, run: Path, level: int) -> str:
    """Load the head trained at `level` into `model`; returns what the head is, for the card."""
    from safetensors.torch import load_file

    from ticketlib.core.rewind import head_parameters, load_snapshot

    params = head_parameters(model)
    if not params:
        return "no task head (a sentence encoder)"
    head_file = level_dir(imp_folder(run), level) / HEAD_FILE
    if not head_file.is_file():
        return (
            "NO TRAINED HEAD: this run stored none (it predates stored heads), so the head is the run's seeded "
            "initial head, random: its outputs are chance until the ticket is fine-tuned (`--fine-tune`)"
        )
    stored = load_file(str(head_file))
    if stored.keys() != params.keys():
        raise ValueError(f"{head_file} holds {sorted(stored)}, the model's head is {sorted(params)}")
    load_snapshot(params, stored)
    return f"the head trained at level {level} (`{level_dir(IMP_DIR, level) / HEAD_FILE}` of the run)"


def _run_metrics(run: Path, level: int, recorded: list[dict]) -> list[dict]:
    """The run's metrics at `level` as its rows.csv holds them (method "imp"); `recorded` (the
    level.json's) when the run has no rows yet."""
    if not (run / ROWS_FILE).is_file():
        return recorded
    import pandas as pd

    rows = pd.read_csv(run / ROWS_FILE)
    rows = rows[(rows["method"] == "imp") & (rows["level"] == level)]
    if rows.empty:
        return recorded
    seed = int(rows["seed"].iloc[0])
    return [{"seed": seed, "level": level, **{m: float(v) for m, v in zip(rows["metric"], rows["value"])}}]


def _fine_tune(model, ticket, recipe, spec, facts: dict, level: int) -> tuple[str, str]:
    """Fine-tune the masked model in place with the run's recipe and seed; the card's note and head."""
    if recipe is None:
        raise ValueError("fine_tune needs the run's recipe (run.json)")
    from ticketlib.core.imp import evaluate_ticket, head_seed
    from ticketlib.tasks.run_inputs import evaluator, load_data

    loaded = load_data(recipe)
    result = evaluate_ticket(
        model,
        ticket.mask,
        loaded.data.train_features,
        evaluator(loaded),
        recipe.train_config(recipe.seed),
        spec=spec,
        pad_token_id=loaded.data.pad_token_id,
    )
    run_metrics, facts["run_metrics"] = facts["metrics"], facts["metrics"]
    facts["metrics"] = [{"seed": recipe.seed, "level": level, **result["metrics"]}]
    runs = "; ".join(", ".join(f"{k} {v}" for k, v in m.items() if k not in ("seed", "level")) for m in run_metrics)
    note = (
        f"Fine-tuned: theta_0 with the mask applied, fine-tuned once more with the run's recipe and seed "
        f"{recipe.seed} by the standard recipe (a fresh head seeded {head_seed(recipe.seed, 0)}, a learning-rate "
        f"schedule of its own), as the baselines' 'imp' method does; the metrics above are that fine-tuning's. "
        f"The run's IMP level scored {runs or 'nothing recorded'}: it trained the same mask with head policy "
        f"'{recipe.head_policy}' (head seed {head_seed(recipe.seed, level)} for 'reinit') and the run's schedule, "
        "so the two differ by that training noise. Zeros exactly where the mask is 0."
    )
    return note, "the head of this fine-tuning"


def _need_tokenizer(tokenizer) -> None:
    if tokenizer is None:
        raise ValueError(
            "a mean-pooled ticket is exported as a sentence-transformers folder, which needs the "
            "tokenizer (pass tokenizer=)"
        )


@torch.no_grad()
def _encoder_with_pooler(base: nn.Module) -> nn.Module:
    """`base` (built without pooler) as its class builds it by default, pooler included and zero,
    so that `from_pretrained` of the saved folder reports nothing missing."""
    if "add_pooling_layer" not in inspect.signature(type(base)).parameters:
        return base
    full = type(base)(base.config)
    missing, unexpected = full.load_state_dict(base.state_dict(), strict=False)
    if unexpected or any(not key.startswith("pooler.") for key in missing):
        raise ValueError(f"cannot add a pooler to {type(base).__name__}: missing {missing}, unexpected {unexpected}")
    for param in full.pooler.parameters():
        param.zero_()
    return full.eval()


def _save_shrunk(model, units, spec: PrunableSet, folder: Path, tokenizer, max_length: int | None) -> str:
    """Shrink a copy of `model` (a transformers model, or the encoder of a mean-pooled one) into
    `folder`; returns the card's note."""
    from ticketlib.core.shrink import save_shrunk, shrink

    mean_pooled = not hasattr(model, "save_pretrained")
    small = copy.deepcopy(model.base_model if mean_pooled else model)
    record = shrink(small, units=units, spec=spec)
    save_shrunk(small, folder, record)
    if mean_pooled:
        write_sentence_folder(folder, tokenizer, getattr(model, "classifier", None), max_length, shrunk=True)
    elif tokenizer is not None:
        tokenizer.save_pretrained(str(folder))
    sizes = f"{record['num_attention_heads']} heads and {record['intermediate_sizes']} FFN units per layer"
    return (
        f"\n\nThe shrunk model (pruned heads and neurons removed: {sizes}; the same outputs up to float "
        f"rounding) is in `{folder.name}/`, with the same head."
        + (
            " Its encoder module is `ticketlib.tickets.sentence_folder.ShrunkTransformer` (layers of different "
            "sizes, which no transformers config describes): sentence-transformers imports it from the installed "
            "ticketlib when asked with `trust_remote_code=True`; no code is read from the folder."
            if mean_pooled
            else ""
        )
    )


def load_calls(out: str | os.PathLike) -> dict[str, str]:
    """The Python code that loads each model of an exported folder into `model`: "." (the
    masked model) and, for a structured ticket, "shrunk"."""
    out = Path(out)
    calls = {".": _load_call(out)}
    if (out / SHRUNK_DIR).is_dir():
        calls[SHRUNK_DIR] = _load_call(out / SHRUNK_DIR)
    return calls


def _load_call(folder: Path) -> str:
    if is_sentence_folder(folder):
        trust = ", trust_remote_code=True" if (folder / "shrink.json").is_file() else ""
        return (
            f"from sentence_transformers import SentenceTransformer; "
            f"model = SentenceTransformer({str(folder)!r}{trust})"
        )
    if (folder / "shrink.json").is_file():
        return f"from ticketlib.core.shrink import load_shrunk; model = load_shrunk({str(folder)!r})"
    architecture = (read_json(folder / "config.json").get("architectures") or [""])[0]
    auto = next((a for suffix, a in AUTO_CLASSES.items() if architecture.endswith(suffix)), None)
    if auto is None:
        raise ValueError(f"{folder}: no known loader for architecture {architecture!r}")
    return f"from transformers import {auto}; model = {auto}.from_pretrained({str(folder)!r})"


def outputs(folder: str | os.PathLike) -> str:
    """What the model that `load_calls` loads from `folder` gives, in words."""
    folder = Path(folder)
    if not is_sentence_folder(folder):
        return "`model(**tokenizer(texts, return_tensors='pt', padding=True))` (tokenizer: AutoTokenizer of the folder)"
    modules = read_json(folder / "modules.json")
    if any(m["type"].endswith(".Dense") for m in modules):
        return (
            "`model.encode(texts)`: the logits of the trained head on the mean-pooled encoder (pairs as "
            "tuples; one value per text for a regression task)"
        )
    return "`model.encode(texts)`: the mean-pooled embeddings"


def usage(out: str | os.PathLike, relative: bool = False) -> str:
    """How to load each model of an exported folder and what it gives (the card and the CLI)."""
    out = Path(out)
    lines = []
    for name, call in load_calls(out).items():
        folder = out if name == "." else out / name
        if relative:
            call = call.replace(repr(str(out)), "DIR").replace(repr(str(folder)), f"DIR + '/{name}'")
        lines.append(
            f"- {'the masked model' if name == '.' else 'the shrunk model'}: `{call}`; then {outputs(folder)}."
        )
    return "Load with one call:\n\n" + "\n".join(lines)


def head_of(out: str | os.PathLike) -> str:
    """What the exported head is (the card's `ticket.head`)."""
    from ticketlib.tickets.ticket_folder import card_metadata

    return card_metadata(Path(out) / CARD_FILE).get("ticket", {}).get("head", "unknown")


def load_shrunk_mean_pooled(out: str | os.PathLike) -> nn.Module:
    """The shrunk model of an exported mean-pooled structured ticket as a ticketlib model, in
    eval mode: the encoder of `out/shrunk/` (ticketlib.core.shrink.load_shrunk) under a
    MeanPooledClassifier with the head of its Dense module, or under an EncoderModel (a sentence
    encoder). `SentenceTransformer(out/shrunk, trust_remote_code=True)` computes the same."""
    from safetensors.torch import load_file

    from ticketlib.core.pooling import EncoderModel, MeanPooledClassifier
    from ticketlib.core.shrink import load_shrunk

    folder = Path(out) / SHRUNK_DIR
    encoder = load_shrunk(folder)
    dense = [m["path"] for m in read_json(folder / "modules.json") if m["type"].endswith(".Dense")]
    if not dense:
        return EncoderModel(encoder).eval()
    model = MeanPooledClassifier(encoder)
    weights = load_file(str(folder / dense[0] / "model.safetensors"))
    model.classifier.load_state_dict({k.removeprefix("linear."): v for k, v in weights.items()})
    return model.eval()
