"""A ticket folder: ``mask.safetensors`` plus a Hugging Face model card ``README.md``.

The files behind `Ticket.save_pretrained`, `Ticket.from_pretrained` and `Ticket.apply`
(ticketlib.tickets.ticket) and `ticketlib export` (ticketlib.tickets.export). This module works on a
mask, its metadata and facts read by the caller, so that it imports nothing that imports
ticketlib.tickets.ticket (no import circles, tests/test_architecture.py).

- The mask file is a byte copy of the file the ticket was loaded from (same metadata and
  sha256), or is written anew by mask_io.save_mask when there is no such file.
- The card's YAML front matter: base_model (the hub name of the pre-trained model),
  library_name, pipeline_tag, tags, and `ticket`: task, sparsity, granularity, level, seed,
  metrics with their seeds, how the ticket was found, and the command that finds it again
  (every recipe field spelt out, so later changes of the defaults do not change it).
- A hub id ('owner/name') is fetched with huggingface_hub.snapshot_download; offline this
  fails at once with a clear message (ticketlib.foundations.hub).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ticketlib.core.config import PrunableSet
from ticketlib.core.mask_io import check_fits, load_mask, save_mask
from ticketlib.core.masks import sparsity
from ticketlib.core.prunable import prunable_parameters
from ticketlib.foundations.atomic import atomic_path, write_bytes
from ticketlib.foundations.hub import hub_unavailable_reason
from ticketlib.foundations.paths import CARD_FILE, MASK_FILE

# The pinned offline model's upstream name on the hub (ticketlib.tasks.assets, "minilm-l6").
HUB_NAMES = {"offline-minilm": "sentence-transformers/all-MiniLM-L6-v2"}
PIPELINES = {
    "classification": "text-classification",
    "regression": "text-classification",
    "qa": "question-answering",
    "mlm": "fill-mask",
    "contrastive": "sentence-similarity",
}


def facts(
    mask: Mapping[str, torch.Tensor],
    meta: Mapping[str, str],
    level: int | None,
    recipe: dict | None = None,
    level_metrics: dict | None = None,
) -> dict:
    """What the card says, from the mask metadata, the run's recipe and the level's metrics."""
    seed = int(meta["seed"]) if "seed" in meta else None
    return {
        "task": meta.get("task"),
        "model": meta.get("model"),
        "level": level,
        "sparsity": round(sparsity(mask), 6),
        "granularity": meta.get("granularity", "weights"),
        "seed": seed,
        "recipe": recipe,
        "metrics": [{"seed": seed, "level": level, **level_metrics}] if level_metrics is not None else [],
    }


def reproduce_command(recipe: dict | None) -> str | None:
    """`python -m ticketlib imp` with every recipe field as a flag (None as 'none')."""
    if not recipe:
        return None
    parts = ["python", "-m", "ticketlib", "imp"]
    for key, value in recipe.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{key.replace('_', '-')}")
        else:
            parts += [flag, "none" if value is None else str(value)]
    return shlex.join(parts)


def card(facts: dict, weights_note: str | None = None) -> str:
    """The model card (README.md) of a ticket: Hugging Face YAML metadata, then prose."""
    from huggingface_hub import ModelCard, ModelCardData

    model = facts.get("model") or "unknown"
    base = HUB_NAMES.get(model, model)
    command = reproduce_command(facts.get("recipe"))
    how = (
        f"Iterative magnitude pruning with rewinding to the pre-trained weights (Chen et al. 2020, "
        f"'The Lottery Ticket Hypothesis for Pre-trained BERT Networks'), granularity "
        f"{facts['granularity']}, level {facts['level']}, found with bert-tickets (ticketlib)."
    )
    task_kind = None
    if facts.get("task"):
        from ticketlib.tasks.registry import get_task

        try:
            task_kind = get_task(facts["task"]).head
        except KeyError:
            task_kind = None
    library = facts.get("library") or "transformers"
    exported = {k: facts[k] for k in ("head", "run_metrics") if facts.get(k) is not None}  # set by an export
    data = ModelCardData(
        base_model=base,
        library_name=library,
        pipeline_tag=PIPELINES.get(task_kind),
        tags=["bert-tickets", "lottery-ticket", "pruning", f"granularity-{facts['granularity']}"]
        + ([library] if library != "transformers" else []),
        ticket={
            "task": facts.get("task"),
            "sparsity": facts["sparsity"],
            "granularity": facts["granularity"],
            "level": facts["level"],
            "seed": facts.get("seed"),
            "metrics": facts["metrics"],
            **exported,
            "how_found": how,
            "reproduce": command,
            "ticketlib_model": model,
        },
    )
    metrics = (
        "\n".join(
            f"- seed {m.get('seed')}: " + ", ".join(f"{k} {v}" for k, v in m.items() if k not in ("seed", "level"))
            for m in facts["metrics"]
        )
        or "- none recorded with the mask"
    )
    body = (
        f"""
# Lottery ticket: {facts.get("task")} at {100 * facts["sparsity"]:.1f}% sparsity ({facts["granularity"]})

A subnetwork (a binary mask over the prunable weight matrices) of `{base}`.

- **How it was found:** {how}
- **Sparsity:** {facts["sparsity"]} of the prunable weights (every encoder Linear weight, and
  the pooler's if the mask has an entry for it) are zero.
- **Metrics (seeds), at the level where the mask was used for fine-tuning:**
{metrics}
- **Reproduce:** `{command or "see the run folder"}`
"""
        + (f"- **Head in this folder:** {facts['head']}\n" if facts.get("head") else "")
        + """

## Use

```python
from ticketlib.tickets.ticket import Ticket
ticket = Ticket.from_pretrained("<this folder or hub id>")
ticket.apply(model)  # checks the fit, zeroes the masked weights
```

`mask.safetensors` holds one uint8 0/1 tensor per pruned matrix (keys relative to the base
model, e.g. `encoder.layer.0.attention.self.query.weight`) and metadata with a sha256 of the
mask, so an edited file is refused.
"""
    )
    if weights_note:
        body += f"\n## Weights in this folder\n\n{weights_note}\n"
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n{{ body }}", body=body).content


def card_metadata(path: str | os.PathLike) -> dict:
    """The YAML front matter of a model card written by `card`."""
    import yaml

    text = Path(path).read_text()
    if not text.startswith("---\n"):
        raise ValueError(f"{path}: no YAML front matter")
    return yaml.safe_load(text.split("---\n")[1]) or {}


def write_mask(
    mask: Mapping[str, torch.Tensor], meta: Mapping[str, str], source: str | os.PathLike | None, path: Path
) -> None:
    """The ticket's mask file: a byte copy of `source` when that file still holds this mask and
    metadata, else written anew (same metadata, checksum recomputed)."""
    if source is not None and Path(source).is_file():
        try:
            found, found_meta = load_mask(source)
        except ValueError:
            found, found_meta = {}, {}
        if (
            found_meta == dict(meta)
            and found.keys() == mask.keys()
            and all(torch.equal(found[k], mask[k].to(torch.bool)) for k in found)
        ):
            write_bytes(path, Path(source).read_bytes())
            return
    save_mask(path, mask, **meta)


def save_folder(
    folder: str | os.PathLike,
    mask: Mapping[str, torch.Tensor],
    meta: Mapping[str, str],
    source: str | os.PathLike | None,
    card_facts: dict,
    weights_note: str | None = None,
) -> Path:
    """Write mask.safetensors and README.md into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_mask(mask, meta, source, folder / MASK_FILE)
    text = card(card_facts, weights_note=weights_note)
    with atomic_path(folder / CARD_FILE) as tmp:
        tmp.write_text(text)
    return folder


def mask_file_of(source: str | os.PathLike) -> Path:
    """The mask file of a ticket folder, a mask file itself, or a hub id's downloaded folder."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if not (path / MASK_FILE).is_file():
            raise FileNotFoundError(f"{path}: no {MASK_FILE} (not a ticket folder written by save_pretrained)")
        return path / MASK_FILE
    if str(source).count("/") != 1 or str(source).startswith((".", "/", "~")):
        raise FileNotFoundError(f"{source}: no such ticket folder, and not a hub id ('owner/name')")
    reason = hub_unavailable_reason()
    if reason:
        raise ConnectionError(f"cannot download the ticket {source!r} from the Hugging Face hub: {reason}")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=str(source), allow_patterns=[MASK_FILE, CARD_FILE])) / MASK_FILE


@torch.no_grad()
def apply_mask(
    mask: Mapping[str, torch.Tensor],
    meta: Mapping[str, str] | None,
    model: nn.Module,
    spec: PrunableSet = PrunableSet(),
) -> nn.Module:
    """Check that the mask fits `model` and zero its masked weights in place (a pooler the mask
    does not cover stays dense). Returns the model."""
    check_fits(mask, model, spec, meta)
    for key, param in prunable_parameters(model, spec).items():
        if key in mask:
            param.mul_(mask[key].to(device=param.device, dtype=param.dtype))
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
