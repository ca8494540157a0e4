"""Tickets anyone can load: a mask folder with a model card, the hub, and exported checkpoints.

- `save_pretrained(ticket, folder)` writes ``mask.safetensors`` (the mask file, its metadata
  and checksum unchanged, see mask_files.py) and ``README.md``, a Hugging Face model card
  whose YAML front matter holds base_model, tags, task, sparsity, granularity, level, the
  metrics with their seeds, how the ticket was found and the command that reproduces it.
- `from_pretrained(folder_or_hub_id)` loads it back (a hub id through
  huggingface_hub.snapshot_download; offline that fails at once with a clear message).
- `apply(ticket, model)` checks that the mask fits the model (mask_files.check_fits) and
  zeroes the masked weights in place.
- `export(run, level, out)` writes a checkpoint folder that plain transformers loads
  (``AutoModelForSequenceClassification.from_pretrained(out)``), with zeros exactly where
  the mask is 0, plus the mask, the card and, for a structured ticket, the shrunk model in
  ``out/shrunk/`` (ticketlib.shrink.load_shrunk).

  What the weights are: IMP level folders keep the mask, the metrics and (head policy
  "keep" only) the trained head, not the fine-tuned encoder, so the export holds the ticket
  as the paper defines it: theta_0 (the pre-trained weights) with the mask applied, and the
  level's trained head where the run stored one, else the run's seeded initial head. It is
  the subnetwork to fine-tune, not a fine-tuned classifier; the card says so. With
  `fine_tune=True` the export first fine-tunes the ticket with the run's recipe and seed
  (the standard recipe of `imp.evaluate_ticket`, i.e. the "imp" method of the baselines),
  and the card then records the metrics of that fine-tuning.
- `push_to_hub(folder, repo_id)` uploads a saved folder (needs a network and a token).
"""

from __future__ import annotations

import copy
import os
import shlex
from pathlib import Path

import torch
from torch import nn

from .hub import hub_unavailable_reason
from .mask_files import check_fits, load_mask, save_mask
from .masks import sparsity
from .prunable import PrunableSet, prunable_parameters
from .store import atomic_path, read_json, write_bytes
from .structured import units_from_mask
from .tickets import HEAD_FILE, LEVEL_FILE, MASK_FILE, RUN_FILE, Ticket, level_dir

CARD_FILE = "README.md"
SHRUNK_DIR = "shrunk"
# The pinned offline model's upstream name on the hub (ticketlib.assets, "minilm-l6").
HUB_NAMES = {"offline-minilm": "sentence-transformers/all-MiniLM-L6-v2"}
PIPELINES = {"classification": "text-classification", "regression": "text-classification",
             "qa": "question-answering", "mlm": "fill-mask"}


def run_folder_of(ticket: Ticket) -> Path | None:
    """The find_tickets run folder a ticket's mask file lies in (<run>/imp/level_XX/mask), if any."""
    parents = Path(ticket.path).resolve().parents
    for candidate in parents[1:3]:
        if (candidate / RUN_FILE).is_file():
            return candidate
    return None


def ticket_facts(ticket: Ticket) -> dict:
    """What the card says: from the mask metadata and, when the mask lies in a run folder, the
    run's recipe and the level's metrics."""
    meta = dict(ticket.meta)
    facts = {"task": meta.get("task"), "model": meta.get("model"), "level": ticket.level,
             "sparsity": round(sparsity(ticket.mask), 6), "granularity": meta.get("granularity", "weights"),
             "seed": int(meta["seed"]) if "seed" in meta else None, "metrics": [], "recipe": None}
    run = run_folder_of(ticket)
    if run is not None:
        info = read_json(run / RUN_FILE)
        facts["recipe"] = info.get("recipe")
        level_file = Path(ticket.path).parent / LEVEL_FILE
        if level_file.is_file():
            facts["metrics"].append({"seed": facts["seed"], "level": ticket.level,
                                     **read_json(level_file).get("metrics", {})})
    return facts


def reproduce_command(facts: dict) -> str | None:
    """The ticketlib command that finds this ticket again (from the run's recipe)."""
    recipe = facts.get("recipe")
    if not recipe:
        return None
    from .params import Recipe

    defaults = Recipe().as_dict()
    parts = ["python", "-m", "ticketlib", "imp"]
    for key, value in recipe.items():
        if key in defaults and value != defaults[key]:
            if isinstance(value, bool):
                parts.append(f"--{'' if value else 'no-'}{key.replace('_', '-')}")
            else:
                parts += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(parts)


def card(ticket: Ticket, facts: dict | None = None, weights_note: str | None = None) -> str:
    """The model card (README.md) of a ticket: Hugging Face YAML metadata, then prose."""
    from huggingface_hub import ModelCard, ModelCardData

    facts = facts or ticket_facts(ticket)
    model = facts.get("model") or "unknown"
    base = HUB_NAMES.get(model, model)
    command = reproduce_command(facts)
    how = (f"Iterative magnitude pruning with rewinding to the pre-trained weights (Chen et al. 2020, "
           f"'The Lottery Ticket Hypothesis for Pre-trained BERT Networks'), granularity "
           f"{facts['granularity']}, level {facts['level']}, found with bert-tickets (ticketlib).")
    task_kind = None
    if facts.get("task"):
        from .tasks import get_task

        try:
            task_kind = get_task(facts["task"]).head
        except KeyError:
            task_kind = None
    data = ModelCardData(base_model=base, library_name="transformers",
                         pipeline_tag=PIPELINES.get(task_kind),
                         tags=["bert-tickets", "lottery-ticket", "pruning", f"granularity-{facts['granularity']}"],
                         ticket={"task": facts.get("task"), "sparsity": facts["sparsity"],
                                 "granularity": facts["granularity"], "level": facts["level"],
                                 "seed": facts.get("seed"), "metrics": facts["metrics"],
                                 "how_found": how, "reproduce": command, "ticketlib_model": model})
    metrics = "\n".join(f"- seed {m.get('seed')}: " + ", ".join(f"{k} {v}" for k, v in m.items()
                                                              if k not in ("seed", "level"))
                        for m in facts["metrics"]) or "- none recorded with the mask"
    body = f"""
# Lottery ticket: {facts.get('task')} at {100 * facts['sparsity']:.1f}% sparsity ({facts['granularity']})

A subnetwork (a binary mask over the prunable weight matrices) of `{base}`.

- **How it was found:** {how}
- **Sparsity:** {facts['sparsity']} of the prunable weights (every encoder Linear weight, and
  the pooler's if the mask has an entry for it) are zero.
- **Metrics (seeds), at the level where the mask was used for fine-tuning:**
{metrics}
- **Reproduce:** `{command or 'see the run folder'}`

## Use

```python
from ticketlib.tickets import Ticket
ticket = Ticket.from_pretrained("<this folder or hub id>")
ticket.apply(model)  # checks the fit, zeroes the masked weights
```

`mask.safetensors` holds one uint8 0/1 tensor per pruned matrix (keys relative to the base
model, e.g. `encoder.layer.0.attention.self.query.weight`) and metadata with a sha256 of the
mask, so an edited file is refused.
"""
    if weights_note:
        body += f"\n## Weights in this folder\n\n{weights_note}\n"
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n{{ body }}", body=body).content


def write_mask(ticket: Ticket, path: Path) -> None:
    """The ticket's mask file: a byte copy of the file it was loaded from when that file still
    holds this mask and metadata, else written anew (same metadata, checksum recomputed)."""
    source = Path(ticket.path)
    if source.is_file():
        try:
            mask, meta = load_mask(source)
        except ValueError:
            mask, meta = {}, {}
        if meta == ticket.meta and mask.keys() == ticket.mask.keys() and \
                all(torch.equal(mask[k], ticket.mask[k].to(torch.bool)) for k in mask):
            write_bytes(path, source.read_bytes())
            return
    save_mask(path, ticket.mask, **ticket.meta)


def save_pretrained(ticket: Ticket, folder: str | os.PathLike, weights_note: str | None = None) -> Path:
    """Write mask.safetensors (metadata and checksum unchanged) and README.md into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_mask(ticket, folder / MASK_FILE)
    text = card(ticket, weights_note=weights_note)
    with atomic_path(folder / CARD_FILE) as tmp:
        tmp.write_text(text)
    return folder


def from_pretrained(source: str | os.PathLike) -> Ticket:
    """A ticket from a folder written by save_pretrained (or a mask file), or a hub id."""
    path = Path(source).expanduser()
    if path.is_file():
        mask, meta = load_mask(path)
        return Ticket(mask, meta, path, int(meta["level"]) if "level" in meta else None)
    if path.is_dir():
        if not (path / MASK_FILE).is_file():
            raise FileNotFoundError(f"{path}: no {MASK_FILE} (not a ticket folder written by save_pretrained)")
        return from_pretrained(path / MASK_FILE)
    if str(source).count("/") != 1 or str(source).startswith((".", "/", "~")):
        raise FileNotFoundError(f"{source}: no such ticket folder, and not a hub id ('owner/name')")
    reason = hub_unavailable_reason()
    if reason:
        raise ConnectionError(f"cannot download the ticket {source!r} from the Hugging Face hub: {reason}")
    from huggingface_hub import snapshot_download

    local = snapshot_download(repo_id=str(source), allow_patterns=[MASK_FILE, CARD_FILE])
    return from_pretrained(Path(local) / MASK_FILE)


@torch.no_grad()
def apply(ticket: Ticket, model: nn.Module, spec: PrunableSet = PrunableSet()) -> nn.Module:
    """Check that the ticket fits `model` and zero its masked weights in place (a pooler the
    mask does not cover stays dense). Returns the model."""
    check_fits(ticket.mask, model, spec, ticket.meta)
    for key, param in prunable_parameters(model, spec).items():
        if key in ticket.mask:
            param.mul_(ticket.mask[key].to(device=param.device, dtype=param.dtype))
    return model


def push_to_hub(folder: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload a folder written by save_pretrained or export to the hub; returns the repo URL."""
    reason = hub_unavailable_reason()
    if reason:
        raise ConnectionError(f"cannot push to the Hugging Face hub: {reason}")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    return str(url)


def export(run: str | os.PathLike, level: int, out: str | os.PathLike, model: nn.Module | None = None,
           tokenizer=None, fine_tune: bool = False) -> Path:
    """Write the ticket of `run` at `level` as a checkpoint folder (see the module docstring).
    `model` (theta_0 with the run's head, e.g. from tests) is built from the run's recipe when
    not given."""
    from .tickets import imp_folder, load_ticket

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
    apply(ticket, model, spec)
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
    model.save_pretrained(str(out))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    if facts["granularity"] != "weights":
        from .shrink import save_shrunk, shrink

        small = copy.deepcopy(model)
        record = shrink(small, units=units_from_mask(ticket.mask, model, spec), spec=spec)
        save_shrunk(small, out / SHRUNK_DIR, record)
        note += (f"\n\nThe shrunk model (pruned heads and neurons removed: {record['num_attention_heads']} heads "
                 f"and {record['intermediate_sizes']} FFN units per layer) is in `{SHRUNK_DIR}/`; load it with "
                 "`ticketlib.shrink.load_shrunk`.")
    write_mask(ticket, out / MASK_FILE)
    with atomic_path(out / CARD_FILE) as tmp:
        tmp.write_text(card(ticket, facts, weights_note=note))
    return out
