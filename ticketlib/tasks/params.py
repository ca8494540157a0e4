"""The recipe every notebook shares: `Recipe`, its fields (help text, choices, defaults) and
which of them make a run's identity. A notebook's `parameters` cell is its schema; the Recipe is
the part 01-04 share. Profiles, which set these parameters for a whole study: ticketlib.study.profiles.
Parameter values are checked by `Recipe` when a run starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from ticketlib.core.config import POOLINGS, EarlyBird, IMPConfig, PruneConfig, TrainConfig, structured_options_on
from ticketlib.foundations.atomic import recorded
from ticketlib.tasks.registry import SOURCES, get_task


def suggest(name: str, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


# --- the recipe -----------------------------------------------------------------------------
# Every Recipe field carries a one-line `metadata["help"]` (and `metadata["choices"]` where the
# values are a closed set). A field that is a TrainConfig/PruneConfig/IMPConfig field reuses that
# field's help and choices (`same`), with the paper's default; where the offline recipe deliberately
# differs (`offline`), the help names both defaults and why. The command line (`ticketlib imp`) and
# the notebooks' parameters cells are generated from these fields. The early-bird rule's fields
# (config.EarlyBird) appear flat, as early_bird_<name>, and count in a run's identity only while
# early_bird is on (`record_if`), so the runs made before the option existed keep their ids; so do
# the structured options (structured_*), while they leave the masks as before (joint, magnitude).

RUNTIME = ("device", "threads")  # where a run runs, not what it computes: not part of its identity
# How a structured run's baselines are sized, recorded in the identity of every run with whole units
# (granularity other than 'weights'): they copy the ticket's unit counts (ticketlib.core.unit_baselines).
# Runs made while they re-derived the counts from the ticket's weight sparsity had no such entry, so
# their stored baselines are not reused for the new ones.
UNIT_BASELINES = "ticket_counts"


def _choices(config: type, name: str) -> tuple | None:
    hint = typing.get_type_hints(config)[name]
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None


def _config_meta(config: type, name: str) -> tuple[dataclasses.Field, dict]:
    source = {f.name: f for f in dataclasses.fields(config)}[name]
    meta = {"help": source.metadata["help"], "from": f"{config.__name__}.{name}"}
    if "record_if" in source.metadata:
        meta["record_if"] = source.metadata["record_if"]
    choices = _choices(config, name)
    if choices:
        meta["choices"] = choices
    return source, meta


def same(config: type, name: str, also: str = ""):
    """A Recipe field that is `config`'s field `name`: its default, help (plus `also`) and choices."""
    source, meta = _config_meta(config, name)
    if also:
        meta["help"] += also
    return field(default=source.default, metadata=meta)


def offline(config: type, name: str, default: Any, why: str):
    """A Recipe field that is `config`'s field `name` with a deliberate offline default (`why`)."""
    source, meta = _config_meta(config, name)
    meta.update(
        help=f"{meta['help']}; offline default {default!r}, paper {source.default!r}: {why}",
        paper_default=source.default,
    )
    return field(default=default, metadata=meta)


def early_bird_option(name: str):
    """A Recipe field `early_bird_<name>` that is config.EarlyBird's field `name`: its default and
    help; part of a run's identity only while early_bird is on."""
    source, meta = _config_meta(EarlyBird, name)
    return field(default=source.default, metadata={**meta, "record_if": "early_bird"})


def own(default: Any, help: str, choices: tuple | None = None):
    """A Recipe field of its own (data, model, resources)."""
    return field(default=default, metadata={"help": help, **({"choices": choices} if choices else {})})


@dataclass
class Recipe:
    """What decides a fine-tuning run or an IMP run: task, data, model, training, pruning.

    Every notebook builds one from its parameters (`Recipe.from_namespace(globals())`), so
    a misspelt or ill-typed value fails here, at the top of the notebook. Each field's help is
    `recipe_help(name)`; the defaults are the offline recipe's (those that differ from the
    paper's say so in their help).
    """

    task: str = own(
        "rt-sentiment",
        "the task, a ticketlib.tasks.registry name (e.g. rt-sentiment, squad-qnli, wiki-mlm, sst2, mnli)",
    )
    model: str = own(
        "offline-minilm",
        "the pre-trained model: 'offline-minilm' (MiniLM-L6, a pinned registry "
        "asset), a hub name such as 'bert-base-uncased' (needs the hub), or a folder",
    )
    source: str = own(
        "offline",
        "where the data comes from: 'offline' (registry assets), 'glue_dir' (a GLUE folder) or 'hub'",
        SOURCES,
    )
    glue_dir: str | None = own(
        None, "GLUE folder in the glue_data/ layout for source 'glue_dir' (None: $TICKETLIB_GLUE_DIR)"
    )
    num_layers: int | None = own(None, "keep only the first n encoder layers of the model, a cheaper slice (None: all)")
    max_train_examples: int | None = own(None, "a seeded subset of the training split (None: all of it)")
    max_eval_examples: int | None = own(None, "a seeded subset of the evaluation split (None: all of it)")
    max_length: int | None = own(None, "tokens per sequence (None: the task's recipe)")
    subset_seed: int = own(0, "seed of the training and evaluation subsets")
    learning_rate: float = offline(
        TrainConfig,
        "learning_rate",
        5e-5,
        "short runs of MiniLM-L6 on small subsets (docs/method.md, head and learning rate at small budgets)",
    )
    batch_size: int = same(TrainConfig, "batch_size")
    epochs: float = offline(TrainConfig, "epochs", 1.0, "one epoch keeps a run by hand short on a CPU")
    max_steps: int | None = same(TrainConfig, "max_steps")
    warmup_steps: int = same(TrainConfig, "warmup_steps")
    weight_decay: float = same(TrainConfig, "weight_decay")
    schedule_horizon: str = same(TrainConfig, "schedule_horizon")
    levels: int = offline(PruneConfig, "levels", 2, "two levels keep a run by hand within minutes on a CPU")
    schedule: str = same(PruneConfig, "schedule")
    rate: float = offline(PruneConfig, "rate", 0.2, "with two levels, 20% and 40% sparsity")
    scope: str = same(PruneConfig, "scope")
    include_pooler: bool = offline(
        PruneConfig,
        "include_pooler",
        False,
        "MiniLM-L6's pooler was never trained, so pruning it collapses the classifier (docs/method.md)",
    )
    granularity: str = same(PruneConfig, "granularity")
    structured_allocation: str = same(PruneConfig, "structured_allocation")
    structured_head_ratio: float = same(PruneConfig, "structured_head_ratio")
    structured_score: str = same(PruneConfig, "structured_score")
    structured_score_batches: int = same(PruneConfig, "structured_score_batches")
    pooling: str | None = own(
        None,
        "the classification/regression head's pooling: 'cls' (the paper's [CLS] "
        "through the pooler) or 'mean' (mean over non-padding tokens, no pooler; "
        "ticketlib.core.pooling); None: the model's own, 'mean' for offline-minilm "
        "(pre-trained mean-pooled, its pooler never trained), 'cls' for any other model "
        "(the paper)",
        POOLINGS,
    )
    head_policy: str = same(IMPConfig, "head_policy")
    early_bird: bool = same(IMPConfig, "early_bird")
    early_bird_every: int | None = early_bird_option("every")
    early_bird_epsilon: float = early_bird_option("epsilon")
    early_bird_patience: int = early_bird_option("patience")
    early_bird_evaluate_levels: bool = early_bird_option("evaluate_levels")
    seed: int = same(TrainConfig, "seed", also=", and of the task head")
    device: str = same(TrainConfig, "device")
    precision: str = same(TrainConfig, "precision")
    adamw_impl: str = same(TrainConfig, "adamw_impl")
    threads: int | None = own(
        None, "torch CPU threads (None: $TICKETLIB_THREADS, set by the sweep, else torch's default)"
    )

    def __post_init__(self):
        if self.pooling is None:  # resolved here, so a run's identity holds the pooling it used
            self.pooling = model_pooling(self.model)
        hints = {f.name: f.type for f in dataclasses.fields(self)}
        for name, hint in hints.items():
            value = getattr(self, name)
            if value is None and "None" in hint:
                continue
            kind = hint.split(" | ")[0]
            ok = {
                "str": isinstance(value, str),
                "int": isinstance(value, int) and not isinstance(value, bool),
                "float": isinstance(value, (int, float)) and not isinstance(value, bool),
                "bool": isinstance(value, bool),
            }[kind]
            if not ok:
                raise ValueError(f"parameter {name!r} must be {hint}, got {value!r}")
        self.learning_rate, self.epochs, self.rate = float(self.learning_rate), float(self.epochs), float(self.rate)
        self.early_bird_epsilon, self.structured_head_ratio = (
            float(self.early_bird_epsilon),
            float(self.structured_head_ratio),
        )
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(
                    f"parameter {f.name!r} must be one of {', '.join(map(str, choices))}, got {getattr(self, f.name)!r}"
                )
        # The task registry and the configs validate the rest (names, ranges).
        try:
            get_task(self.task)
        except KeyError as error:
            raise ValueError(str(error)) from None
        self.imp_config()

    @property
    def structured_options_on(self) -> bool:
        """Whether the structured options are part of the run's identity (`record_if`)."""
        return structured_options_on(self.structured_allocation, self.structured_score)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    field_names = names

    @classmethod
    def field(cls, name: str) -> dataclasses.Field:
        found = {f.name: f for f in dataclasses.fields(cls)}
        if name not in found:
            raise ValueError(f"unknown recipe parameter {name!r}.{suggest(name, found)}")
        return found[name]

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any], **overrides) -> "Recipe":
        """The recipe from a notebook's globals (only the recipe's names are read)."""
        values = {k: namespace[k] for k in cls.names() if k in namespace}
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes) -> "Recipe":
        unknown = [k for k in changes if k not in self.names()]
        if unknown:
            raise ValueError(f"unknown recipe parameter {unknown[0]!r}.{suggest(unknown[0], self.names())}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """What decides the results: every field but the runtime ones (RUNTIME), the early-bird ones
        only while early_bird is on (atomic.recorded); with whole units, how baselines are sized."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        identity = {k: v for k, v in self.as_dict().items() if k not in RUNTIME and recorded(self, fields[k])}
        if self.granularity != "weights":
            identity["unit_baselines"] = UNIT_BASELINES
        return identity

    def prune_config(self):
        return PruneConfig(
            levels=self.levels,
            schedule=self.schedule,
            rate=self.rate,
            scope=self.scope,
            include_pooler=self.include_pooler,
            granularity=self.granularity,
            structured_allocation=self.structured_allocation,
            structured_head_ratio=self.structured_head_ratio,
            structured_score=self.structured_score,
            structured_score_batches=self.structured_score_batches,
        )

    def train_config(self, seed: int | None = None, progress: bool = False):
        return TrainConfig(
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            max_steps=self.max_steps,
            batch_size=self.batch_size,
            warmup_steps=self.warmup_steps,
            weight_decay=self.weight_decay,
            schedule_horizon=self.schedule_horizon,
            seed=self.seed if seed is None else seed,
            device=self.device,
            precision=self.precision,
            adamw_impl=self.adamw_impl,
            progress=progress,
        )

    def early_bird_options(self) -> EarlyBird:
        return EarlyBird(
            every=self.early_bird_every,
            epsilon=self.early_bird_epsilon,
            patience=self.early_bird_patience,
            evaluate_levels=self.early_bird_evaluate_levels,
        )

    def imp_config(self, rewind_step: int = 0):
        return IMPConfig(
            prune=self.prune_config(),
            train=self.train_config(),
            head_policy=self.head_policy,
            rewind_step=rewind_step,
            early_bird=self.early_bird,
            early_bird_options=self.early_bird_options(),
        )

    def data_key(self) -> dict:
        """What decides the data (for manifests and run identity)."""
        return {
            k: getattr(self, k)
            for k in (
                "task",
                "source",
                "glue_dir",
                "max_train_examples",
                "max_eval_examples",
                "max_length",
                "subset_seed",
            )
        }


def model_pooling(model: str) -> str:
    """The pooling a model's own pre-training used: 'mean' for the offline MiniLM-L6 (a
    sentence-transformers model; its pooler was never trained), else 'cls' (BERT, the paper)."""
    return "mean" if model == "offline-minilm" else "cls"


def recipe_help(name: str) -> str:
    """The one-line help of a Recipe field (for the command line and the notebooks' parameters cells)."""
    return Recipe.field(name).metadata["help"]


def recipe_choices(name: str) -> tuple | None:
    return Recipe.field(name).metadata.get("choices")


def recipe_default(name: str) -> Any:
    return Recipe.field(name).default


def recipe_cell(values: Mapping[str, Any] | None = None, names: list[str] | None = None) -> str:
    """Lines `name = value  # help` for a notebook's parameters cell: `names` (default: every
    field) with `values` where given, else the recipe's defaults."""
    values = dict(values or {})
    lines = []
    for name in names or Recipe.names():
        lines.append(f"{name} = {values.get(name, recipe_default(name))!r}  # {recipe_help(name)}")
    return "\n".join(lines) + "\n"


def identity_params(params: Mapping[str, Any]) -> dict:
    """A run's parameters as its identity sees them (ticketlib.study.identity). For a run that builds a
    recipe (its parameters name a `task` and a `model`), the recipe's fields and `recipe_extra`
    become one resolved recipe (`Recipe.identity()`: every field, defaults included, runtime fields
    left out), so a notebook's flat parameters and a library call's Recipe give the same identity;
    every other parameter is kept as is."""
    if not {"task", "model"} <= set(params):
        return dict(params)
    recipe = Recipe.from_namespace(params, **(params.get("recipe_extra") or {}))
    rest = {k: v for k, v in params.items() if k not in Recipe.names() and k != "recipe_extra"}
    return {"recipe": recipe.identity(), **rest}
