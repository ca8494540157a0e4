"""Exporting a ticket: `ticketlib export RUN --level N --out DIR`.

`export(run, level, out)` writes a checkpoint folder that plain transformers loads
(``AutoModelForSequenceClassification.from_pretrained(out)``), with zeros exactly where the
mask is 0, plus ``mask.safetensors``, the model card ``README.md`` (ticketlib.ticket_files)
and, for a structured ticket, the shrunk model in ``out/shrunk/`` (ticketlib.shrink.load_shrunk).
A mean-pooled model (ticketlib.pooling: pooling "mean", squad-retrieval) has no transformers
class: the export holds its encoder (`AutoModel`) and its head in ``head.safetensors``, and
``shrunk/`` its shrunk encoder; the head acts on the hidden size, which shrinking keeps, so
the one head file serves both (`load_shrunk_mean_pooled` rebuilds the shrunk model).

What the weights are: IMP level folders keep the mask, the metrics and (head policy "keep"
only) the trained head, not the fine-tuned encoder, so the export holds the ticket as the
paper defines it: theta_0 (the pre-trained weights) with the mask applied, and the level's
trained head where the run stored one, else the run's seeded initial head. It is the
subnetwork to fine-tune, not a fine-tuned classifier; the card says so. With
`fine_tune=True` the export first fine-tunes the ticket with the run's recipe and seed (the
standard recipe of `imp.evaluate_ticket`, i.e. the "imp" method of the baselines), and the
card then records that fine-tuning's metrics.

Saving, loading and applying a ticket: `Ticket.save_pretrained`, `Ticket.from_pretrained`,
`Ticket.apply` (ticketlib.tickets, files in ticketlib.ticket_files); `push_to_hub` uploads a
folder (needs a network and a token).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from torch import nn

from .prunable import PrunableSet
from .store import read_json
from .structured import units_from_mask
from .ticket_files import apply_mask, push_to_hub, save_folder  # noqa: F401  (push_to_hub: part of the API)
from .tickets import HEAD_FILE, RUN_FILE, imp_folder, level_dir, load_ticket, ticket_facts

SHRUNK_DIR = "shrunk"


def export(run: str | os.PathLike, level: int, out: str | os.PathLike, model: nn.Module | None = None,
           tokenizer=None, fine_tune: bool = False) -> Path:
    """Write the ticket of `run` at `level` as a checkpoint folder (see the module docstring).
    `model` (theta_0 with the run's head, e.g. from tests) is built from the run's recipe when
    not given."""
    run, out = Path(run), Path(out)
    ticket = load_ticket(run, level)
    info = read_json(run / RUN_FILE) if (run / RUN_FILE).is_file() else {}
    recipe = None
    if info.get("recipe"):
        from .params import Recipe

        recipe = Recipe(**{k: v for k, v in info["recipe"].items() if k in Recipe.names()})
    if model is None:
        if recipe is None:
            raise ValueError(f"{run}: no {RUN_FILE} with a recipe: pass the model")
        from .experiments import fresh_model
        from .models import load_tokenizer

        model, _ = fresh_model(recipe, seed=recipe.seed)
        tokenizer = tokenizer or load_tokenizer(recipe.model)
    spec = recipe.prune_config().spec() if recipe is not None else PrunableSet()
    head_file = level_dir(imp_folder(run), level) / HEAD_FILE
    if head_file.is_file():
        from safetensors.torch import load_file

        from .rewind import head_parameters, load_snapshot

        load_snapshot(head_parameters(model), load_file(str(head_file)))
        head = "the head trained at this level (head policy 'keep')"
    else:
        head = "the run's seeded initial head (the run did not store trained heads)"
    apply_mask(ticket.mask, ticket.meta, model, spec)
    facts = ticket_facts(ticket)
    if fine_tune:
        if recipe is None:
            raise ValueError("fine_tune needs the run's recipe (run.json)")
        from .experiments import evaluator, load_data
        from .imp import evaluate_ticket

        loaded = load_data(recipe)
        result = evaluate_ticket(model, ticket.mask, loaded.data.train_features, evaluator(loaded),
                                 recipe.train_config(recipe.seed), spec=spec,
                                 pad_token_id=loaded.data.pad_token_id)
        facts["metrics"] = [{"seed": recipe.seed, "level": level, **result["metrics"]}]
        note = (f"Fine-tuned: theta_0 with the mask applied, fine-tuned once more with the run's recipe and "
                f"seed {recipe.seed} (the standard recipe, a fresh seeded head); the metrics above are that "
                "fine-tuning's. Zeros exactly where the mask is 0.")
    else:
        note = ("NOT fine-tuned: these are the ticket's initial weights, theta_0 (the pre-trained weights) "
                f"with the mask applied (zeros exactly where the mask is 0), and {head}. Fine-tune them with "
                "the task's recipe to get the metrics above (`ticketlib export --fine-tune` does that).")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(str(out))
    else:  # ticketlib's mean-pooled models (pooling "mean", squad-retrieval): no transformers class pools so
        note += _save_mean_pooled(model, out)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    if facts["granularity"] != "weights":
        note += _save_shrunk(model, units_from_mask(ticket.mask, model, spec), spec, out / SHRUNK_DIR)
    save_folder(out, ticket.mask, ticket.meta, ticket.path, facts, weights_note=note)
    return out


def _save_shrunk(model, units, spec: PrunableSet, folder: Path) -> str:
    """Shrink a copy of `model` (a transformers model, or the encoder of a mean-pooled one) into
    `folder`; returns the card's note."""
    from .shrink import save_shrunk, shrink

    mean_pooled = not hasattr(model, "save_pretrained")
    small = copy.deepcopy(model.base_model if mean_pooled else model)
    record = shrink(small, units=units, spec=spec)
    save_shrunk(small, folder, record)
    sizes = f"{record['num_attention_heads']} heads and {record['intermediate_sizes']} FFN units per layer"
    if not mean_pooled:
        return (f"\n\nThe shrunk model (pruned heads and neurons removed: {sizes}) is in `{folder.name}/`; "
                "load it with `ticketlib.shrink.load_shrunk`.")
    note = f"\n\nThe shrunk encoder (pruned heads and neurons removed: {sizes}) is in `{folder.name}/`. "
    if (folder.parent / HEAD_FILE).is_file():  # written before by _save_mean_pooled; none for a sentence encoder
        return note + (f"The head in `{HEAD_FILE}` fits it too (shrinking keeps the hidden size): "
                       "`ticketlib.sharing.load_shrunk_mean_pooled(DIR)` builds the shrunk model, "
                       f"`ticketlib.shrink.load_shrunk(DIR/'{folder.name}')` (the encoder, no pooler) under "
                       "`ticketlib.pooling.MeanPooledClassifier` with that head.")
    return note + ("A sentence encoder has no head: `ticketlib.sharing.load_shrunk_mean_pooled(DIR)` gives "
                   f"`ticketlib.shrink.load_shrunk(DIR/'{folder.name}')` (no pooler) under "
                   "`ticketlib.pooling.EncoderModel`, whose `encode` gives the mean-pooled embeddings.")


def load_shrunk_mean_pooled(out: str | os.PathLike) -> nn.Module:
    """The shrunk model of an exported mean-pooled structured ticket, in eval mode: the encoder
    of `out/shrunk/` (ticketlib.shrink.load_shrunk) under a MeanPooledClassifier whose head is
    loaded from `out/head.safetensors`, or under an EncoderModel when the export has no head
    (a sentence encoder)."""
    from safetensors.torch import load_file

    from .pooling import EncoderModel, MeanPooledClassifier
    from .rewind import head_parameters, load_snapshot
    from .shrink import load_shrunk

    out = Path(out)
    encoder = load_shrunk(out / SHRUNK_DIR)
    if not (out / HEAD_FILE).is_file():
        return EncoderModel(encoder).eval()
    model = MeanPooledClassifier(encoder)
    head, params = load_file(str(out / HEAD_FILE)), head_parameters(model)
    if head.keys() != params.keys():
        raise ValueError(f"{out / HEAD_FILE} holds {sorted(head)}, a mean-pooled classifier's head is {sorted(params)}")
    load_snapshot(params, head)
    return model.eval()


def _save_mean_pooled(model, out: Path) -> str:
    """A mean-pooled model (ticketlib.pooling) as a plain transformers base model
    (`AutoModel.from_pretrained(out)`: the encoder, zeros exactly where the mask is 0) plus its
    head's weights in `head.safetensors`; returns the card's note on how to use them."""
    from safetensors.torch import save_file

    from .rewind import head_snapshot

    model.base_model.save_pretrained(str(out))
    head = head_snapshot(model)
    if head:
        save_file({k: v.contiguous() for k, v in head.items()}, str(out / HEAD_FILE))
    return (f"\n\nThis ticket's model pools the mean of the last hidden states over the non-padding tokens "
            f"(pooling 'mean'), which no transformers class does: `AutoModel.from_pretrained(DIR)` loads the "
            f"encoder (no pooler); mean-pool its `last_hidden_state` with the attention mask"
            + (f" and apply the head in `{HEAD_FILE}` ({', '.join(sorted(head))})." if head else
               " (a sentence encoder: no task head).")
            + " `ticketlib.models.load_model(..., pooling='mean')` builds the same model.")

