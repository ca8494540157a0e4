"""The one entry point for task data: `load_task_data(task, source, tokenizer, ...) -> TaskData`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ticketlib.foundations import settings
from ticketlib.tasks.data import encode
from ticketlib.tasks.data.errors import DataUnavailableError
from ticketlib.tasks.data.evaluation import evaluate, no_signal_scores
from ticketlib.tasks.data.feature_cache import cached, examples_fingerprint, tokenizer_fingerprint
from ticketlib.tasks.data.glue_tsv import load_glue_dir
from ticketlib.tasks.data.hub_source import load_hub
from ticketlib.tasks.data.offline import load_offline
from ticketlib.tasks.data.subsets import take_subset
from ticketlib.tasks.registry import SOURCES, Task, get_task


@dataclass
class TaskData:
    """Train and eval features of one task, ready for `Batches`, and how to score a model on them.

    eval_sets: {split name: features}; the first is the main one (MNLI: "matched", then "mismatched").
    qa_eval: for SQuAD, per eval split the examples and per-feature offsets for span post-processing.
    info: everything that decided these features (source, files/asset, sizes, subset, seeds,
        max_length, tokenizer hash); meant for the run manifest.
    """

    task: Task
    source: str
    train_features: list[dict]
    eval_sets: dict[str, list[dict]]
    pad_token_id: int
    info: dict = field(default_factory=dict)
    qa_eval: dict[str, dict] | None = None

    @property
    def eval_features(self) -> list[dict]:
        return next(iter(self.eval_sets.values()))

    @property
    def matching_metric(self) -> str:
        return self.task.matching_metric

    def evaluate(self, model: nn.Module, batch_size: int = 64, device=None) -> dict[str, float]:
        """The task's metrics on every eval split (see data.evaluation.evaluate)."""
        return evaluate(self, model, batch_size=batch_size, device=device)

    def no_signal(self) -> dict[str, float]:
        """Each metric's score for a model that ignores its input (see evaluation.no_signal_scores)."""
        return no_signal_scores(self)


def default_glue_dir() -> str | None:
    return settings.glue_dir()


def load_raw(task: Task, source: str, glue_dir: str | Path | None = None) -> tuple[dict[str, list[dict]], dict]:
    """All splits of `task` as example dicts from `source`, plus provenance."""
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}; expected one of {', '.join(SOURCES)}")
    if source == "hub":
        return load_hub(task)
    if source == "glue_dir":
        return load_glue_dir(task, glue_dir if glue_dir is not None else default_glue_dir())
    return load_offline(task)


def load_task_data(
    task: str | Task,
    source: str,
    tokenizer,
    *,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
    subset_seed: int = 0,
    glue_dir: str | Path | None = None,
    max_length: int | None = None,
    doc_stride: int | None = None,
    mask_seed: int = 0,
    cache: bool = True,
) -> TaskData:
    """Load, subset and tokenize `task` from `source` ("hub", "glue_dir" or "offline").

    max_train_examples / max_eval_examples / subset_seed: a seeded cap on split sizes (per eval
        split); for MLM they count blocks of `max_length` tokens, for SQuAD questions.
    max_length: tokens per sequence (default: the task's recipe); doc_stride: SQuAD window overlap.
    mask_seed: MLM masking seed; eval masks use it, train masks use mask_seed + 1.
    glue_dir: the GLUE folder for source "glue_dir" (default: $TICKETLIB_GLUE_DIR).
    """
    task = get_task(task)
    max_length = max_length or task.hparams.max_length
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length}")
    splits, provenance = load_raw(task, source, glue_dir)
    eval_names = [name for name in splits if name != "train"]
    fingerprint = tokenizer_fingerprint(tokenizer)
    key_base = {"tokenizer": fingerprint, "task": task.name, "source": source, "max_length": max_length}
    info = {
        "task": task.name,
        "source": source,
        "provenance": provenance,
        "max_length": max_length,
        "tokenizer_sha256": fingerprint,
        "metrics": list(task.metrics),
        "matching_metric": task.matching_metric,
        "subset": {
            "max_train_examples": max_train_examples,
            "max_eval_examples": max_eval_examples,
            "subset_seed": subset_seed,
        },
        "splits": {},
        "cache_hits": {},
    }
    qa_eval = None
    if task.head == "mlm":
        train, eval_sets = _mlm(
            splits,
            eval_names,
            tokenizer,
            max_length,
            key_base,
            info,
            cache,
            max_train_examples,
            max_eval_examples,
            subset_seed,
            mask_seed,
        )
    elif task.head == "qa":
        stride = doc_stride or _default_stride(task, max_length)
        info["doc_stride"] = stride
        train, eval_sets, qa_eval = _qa(
            splits,
            eval_names,
            tokenizer,
            max_length,
            stride,
            key_base,
            info,
            cache,
            max_train_examples,
            max_eval_examples,
            subset_seed,
        )
    else:
        encoder = encode.encode_retrieval if task.head == "contrastive" else encode.encode_pairs
        train, eval_sets = _pairs(
            splits,
            eval_names,
            tokenizer,
            max_length,
            key_base,
            info,
            cache,
            max_train_examples,
            max_eval_examples,
            subset_seed,
            encoder,
        )
    if not train:
        raise DataUnavailableError(
            f"task {task.name!r} from {source!r}: the training set is empty after subsetting "
            f"(max_train_examples={max_train_examples})"
        )
    return TaskData(
        task=task,
        source=source,
        train_features=train,
        eval_sets=eval_sets,
        pad_token_id=tokenizer.pad_token_id or 0,
        info=info,
        qa_eval=qa_eval,
    )


def _default_stride(task: Task, max_length: int) -> int:
    stride = task.hparams.doc_stride or 128
    return stride if stride < max_length // 2 else max_length // 3  # short quick-profile windows


def _subset_examples(splits, eval_names, max_train, max_eval, seed, info):
    chosen = {}
    for name in ["train", *eval_names]:
        limit = max_train if name == "train" else max_eval
        chosen[name] = take_subset(splits[name], limit, seed)
        info["splits"][name] = {"examples_total": len(splits[name]), "examples_used": len(chosen[name])}
    return chosen


def _pairs(
    splits,
    eval_names,
    tokenizer,
    max_length,
    key_base,
    info,
    use_cache,
    max_train,
    max_eval,
    seed,
    encoder=encode.encode_pairs,
):
    chosen = _subset_examples(splits, eval_names, max_train, max_eval, seed, info)
    encoded = {}
    for name, examples in chosen.items():
        key = {**key_base, "split": name, "examples": examples_fingerprint(examples)}
        encoded[name], info["cache_hits"][name] = cached(
            key, lambda: encoder(tokenizer, examples, max_length), use_cache
        )
        info["splits"][name]["features"] = len(encoded[name])
    return encoded["train"], {name: encoded[name] for name in eval_names}


def _qa(splits, eval_names, tokenizer, max_length, stride, key_base, info, use_cache, max_train, max_eval, seed):
    chosen = _subset_examples(splits, eval_names, max_train, max_eval, seed, info)
    encoded, qa_eval = {}, {}
    for name, examples in chosen.items():
        train = name == "train"
        key = {
            **key_base,
            "split": name,
            "doc_stride": stride,
            "train": train,
            "examples": examples_fingerprint(examples),
        }

        def build():
            features, meta = encode.encode_qa(tokenizer, examples, max_length, stride, train)
            return [
                {**f, "__example_index": m["example_index"], "__offsets": m["offsets"]} for f, m in zip(features, meta)
            ]

        rows, info["cache_hits"][name] = cached(key, build, use_cache)
        encoded[name] = [{k: v for k, v in r.items() if not k.startswith("__")} for r in rows]
        if not train:
            qa_eval[name] = {
                "examples": examples,
                "meta": [{"example_index": r["__example_index"], "offsets": r["__offsets"]} for r in rows],
            }
        info["splits"][name]["features"] = len(encoded[name])
    return encoded["train"], {name: encoded[name] for name in eval_names}, qa_eval


def _mlm(splits, eval_names, tokenizer, max_length, key_base, info, use_cache, max_train, max_eval, seed, mask_seed):
    train, eval_sets = [], {}
    info["mask"] = {"probability": 0.15, "split": "80/10/10", "eval_seed": mask_seed, "train_seed": mask_seed + 1}
    for name in ["train", *eval_names]:
        texts = [e["text"] for e in splits[name]]
        key = {**key_base, "split": name, "blocks": True, "examples": examples_fingerprint(texts)}
        blocks, info["cache_hits"][name] = cached(
            key, lambda: encode.encode_blocks(tokenizer, texts, max_length), use_cache
        )
        used = take_subset(blocks, max_train if name == "train" else max_eval, seed)
        info["splits"][name] = {"texts": len(texts), "blocks_total": len(blocks), "blocks_used": len(used)}
        masked = encode.mask_tokens(used, tokenizer, seed=mask_seed + (1 if name == "train" else 0))
        if name == "train":
            train = masked
        else:
            eval_sets[name] = masked
    return train, eval_sets
