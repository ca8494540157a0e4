"""The `hub` source: the standard Hugging Face `datasets` names (nyu-mll/glue, rajpurkar/squad,
Salesforce/wikitext). Needs a network; without one it fails at once and says what to use instead."""

from __future__ import annotations

from ticketlib.foundations.hub import hub_unavailable_reason
from ticketlib.tasks.data.errors import DataUnavailableError
from ticketlib.tasks.registry import Task


def _call(task: Task) -> str:
    args = repr(task.hub.path) + (f", {task.hub.config!r}" if task.hub.config else "")
    return f"load_dataset({args})"


def _alternatives(task: Task) -> str:
    other = [s for s in task.sources if s != "hub"]
    if other:
        return f"use source={other[0]!r}" + (" with glue_dir=<GLUE folder>" if other[0] == "glue_dir" else "")
    if task.offline_alternative:
        return f"use the offline stand-in task {task.offline_alternative!r} with source='offline'"
    return "connect to the network"


def load_hub(task: Task) -> tuple[dict[str, list[dict]], dict]:
    """All splits of `task` from the hub as our example dicts, plus provenance."""
    if task.hub is None:
        raise DataUnavailableError(f"task {task.name!r} has no hub source (its sources: {', '.join(task.sources)})")
    reason = hub_unavailable_reason()
    if reason:
        raise DataUnavailableError(
            f"source 'hub' tried {_call(task)}: the Hugging Face hub is unreachable ({reason}); {_alternatives(task)}"
        )
    import datasets  # heavy; only needed here

    try:
        loaded = datasets.load_dataset(task.hub.path, task.hub.config)
    except Exception as error:  # network, missing dataset, auth: all mean "not available here"
        raise DataUnavailableError(
            f"source 'hub' tried {_call(task)} and failed: "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}; "
            f"{_alternatives(task)}"
        ) from error
    splits = {"train": _convert(task, loaded[task.hub.train_split])}
    for name, hub_split in task.hub.eval_splits:
        splits[name] = _convert(task, loaded[hub_split])
    provenance = {
        "hub_dataset": task.hub.path,
        "hub_config": task.hub.config,
        "fingerprints": {k: getattr(v, "_fingerprint", None) for k, v in loaded.items()},
    }
    return splits, provenance


def _convert(task: Task, split) -> list[dict]:
    if task.head == "qa":
        return [
            {
                "id": r["id"],
                "title": r["title"],
                "context": r["context"],
                "question": r["question"],
                "answers": {"text": list(r["answers"]["text"]), "answer_start": list(r["answers"]["answer_start"])},
            }
            for r in split
        ]
    if task.head == "mlm":
        return [{"text": r["text"]} for r in split if r["text"].strip()]
    fields = task.hub.text_fields
    examples = []
    for r in split:
        example = {"text_a": r[fields[0]]}
        if len(fields) > 1:
            example["text_b"] = r[fields[1]]
        example["label"] = float(r["label"]) if task.head == "regression" else int(r["label"])
        examples.append(example)
    return examples
