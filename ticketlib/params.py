"""Parameters: the recipe every notebook shares, and profiles (YAML files under params/).

A notebook's `parameters` cell is its schema: the names it accepts and their hand-run
defaults (papermill's `-p name value` and `-f file.yaml` work on it as on any notebook).
A profile sets those parameters for a whole study:

    extends: base.yaml            # optional; mappings merge, the rest is replaced
    name: quick
    description: ...
    defaults: {...}               # for every notebook that has the parameter
    task_params: {wiki-mlm: {...}}  # for every run whose `task` is that task
    experiments:
      <experiment>:
        notebook: 01_find_tickets.ipynb
        params: {...}             # this experiment's parameters
        grid: {task: [a, b]}      # one run per point of the product
        needs: {<param>: {experiment: find_tickets, match: {task: source_task}}}  # another run's folder
               {<param>: {after: [find_tickets, ...]}}                            # a list of run folders
        enabled: true

Unknown or misspelt keys are errors that name the key (no silent defaults): profile keys
are checked here, parameter names against the notebooks' parameters cells (ticketlib.sweep),
parameter values by `Recipe` when a run starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .settings import repo_root

PROFILE_KEYS = {"extends", "name", "description", "notebooks", "defaults", "task_params", "experiments",
                "engine", "jobs", "cluster"}
EXPERIMENT_KEYS = {"notebook", "params", "grid", "needs", "enabled", "description"}
NEED_KEYS = {"experiment", "match", "after"}
REPLACED = {"grid", "needs"}  # replaced, not merged, when a profile extends another


class ProfileError(ValueError):
    """A profile that cannot be used: names the file and the key."""


def suggest(name: str, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_key_error(where: str, key: str, known) -> ProfileError:
    return ProfileError(f"{where}: unknown key {key!r}.{suggest(key, known)} "
                        f"Known: {', '.join(sorted(known))}")


@dataclass
class Recipe:
    """What decides a fine-tuning run or an IMP run: task, data, model, training, pruning.

    Every notebook builds one from its parameters (`Recipe.from_namespace(globals())`), so
    a misspelt or ill-typed value fails here, at the top of the notebook.
    num_layers: keep only the first n encoder layers of the model (a cheaper slice).
    include_pooler: the paper prunes the pooler (True); MiniLM-L6's pooler was never trained,
        so pruning it collapses the classifier (see docs/method.md): offline profiles say False.
    threads: torch CPU threads (None: $TICKETLIB_THREADS, else torch's default).
    adamw_impl: "fused" or "torch_default" (see ticketlib.train.TrainConfig).
    """

    task: str = "rt-sentiment"
    model: str = "offline-minilm"
    source: str = "offline"
    glue_dir: str | None = None
    num_layers: int | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    max_length: int | None = None
    subset_seed: int = 0
    learning_rate: float = 5e-5
    batch_size: int = 32
    epochs: float = 1.0
    max_steps: int | None = None
    warmup_steps: int = 0
    weight_decay: float = 0.0
    schedule_horizon: str = "level"
    levels: int = 2
    schedule: str = "paper"
    rate: float = 0.2
    scope: str = "global"
    include_pooler: bool = False
    head_policy: str = "reinit"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    adamw_impl: str = "fused"
    threads: int | None = None

    def __post_init__(self):
        hints = {f.name: f.type for f in dataclasses.fields(self)}
        for name, hint in hints.items():
            value = getattr(self, name)
            if value is None and "None" in hint:
                continue
            kind = hint.split(" | ")[0]
            ok = {"str": isinstance(value, str), "int": isinstance(value, int) and not isinstance(value, bool),
                  "float": isinstance(value, (int, float)) and not isinstance(value, bool),
                  "bool": isinstance(value, bool)}[kind]
            if not ok:
                raise ValueError(f"parameter {name!r} must be {hint}, got {value!r}")
        self.learning_rate, self.epochs, self.rate = float(self.learning_rate), float(self.epochs), float(self.rate)
        # The task registry and the configs validate the rest (names, ranges, choices).
        from .tasks import SOURCES, get_task

        try:
            get_task(self.task)
        except KeyError as error:
            raise ValueError(str(error)) from None
        if self.source not in SOURCES:
            raise ValueError(f"parameter 'source' must be one of {', '.join(SOURCES)}, got {self.source!r}")
        self.imp_config()

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

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

    def prune_config(self):
        from .imp import PruneConfig

        return PruneConfig(levels=self.levels, schedule=self.schedule, rate=self.rate, scope=self.scope,
                           include_pooler=self.include_pooler)

    def train_config(self, seed: int | None = None, progress: bool = False):
        from .train import TrainConfig

        return TrainConfig(learning_rate=self.learning_rate, epochs=self.epochs, max_steps=self.max_steps,
                           batch_size=self.batch_size, warmup_steps=self.warmup_steps,
                           weight_decay=self.weight_decay, schedule_horizon=self.schedule_horizon,
                           seed=self.seed if seed is None else seed, device=self.device,
                           precision=self.precision, adamw_impl=self.adamw_impl, progress=progress)

    def imp_config(self, rewind_step: int = 0):
        from .imp import IMPConfig

        return IMPConfig(prune=self.prune_config(), train=self.train_config(), head_policy=self.head_policy,
                         rewind_step=rewind_step)

    def data_key(self) -> dict:
        """What decides the data (for manifests and run identity)."""
        return {k: getattr(self, k) for k in ("task", "source", "glue_dir", "max_train_examples",
                                               "max_eval_examples", "max_length", "subset_seed")}


# --- profiles -------------------------------------------------------------------------------

@dataclass
class Profile:
    name: str
    path: Path
    description: str = ""
    notebooks: Path = Path("notebooks")
    defaults: dict = field(default_factory=dict)
    task_params: dict = field(default_factory=dict)
    experiments: dict = field(default_factory=dict)
    engine: str = "local"
    jobs: int | None = None
    cluster: dict = field(default_factory=dict)


def merge(base: Any, override: Any, key: str | None = None) -> Any:
    """Deep merge: mappings merge (except `grid`/`needs`, replaced whole), anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict) and key not in REPLACED:
        merged = dict(base)
        for k, v in override.items():
            merged[k] = merge(base[k], v, k) if k in base else v
        return merged
    return override


def read_profile_data(path: Path, seen: tuple = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ProfileError(f"{path}: 'extends' loops back to itself")
    if not path.is_file():
        raise ProfileError(f"profile not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ProfileError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile is a mapping of keys, got {type(data).__name__}")
    for key in data:
        if key not in PROFILE_KEYS:
            raise unknown_key_error(str(path), key, PROFILE_KEYS)
    parent = data.pop("extends", None)
    if parent:
        data = merge(read_profile_data(path.parent / parent, seen + (path,)), data)
    return data


def resolve_profile_path(name_or_path: str | os.PathLike, root: Path | None = None) -> Path:
    """`quick` -> params/quick.yaml (under `root`, default: the repository root)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return path
    root = root or repo_root()
    return root / "params" / f"{path}.yaml"


def load_profile(name_or_path: str | os.PathLike, root: Path | None = None) -> Profile:
    """Read a profile (following `extends`) and check its structure; see the module docstring."""
    path = resolve_profile_path(name_or_path, root)
    data = read_profile_data(path)
    where = str(path)
    for section in ("defaults", "task_params", "experiments", "cluster"):
        if not isinstance(data.get(section, {}) or {}, dict):
            raise ProfileError(f"{where}: {section!r} must be a mapping")
    experiments = data.get("experiments") or {}
    for name, spec in experiments.items():
        spec = spec or {}
        experiments[name] = spec
        for key in spec:
            if key not in EXPERIMENT_KEYS:
                raise unknown_key_error(f"{where}: experiments.{name}", key, EXPERIMENT_KEYS)
        if "notebook" not in spec:
            raise ProfileError(f"{where}: experiments.{name} has no 'notebook'")
        for axis, values in (spec.get("grid") or {}).items():
            if not isinstance(values, list) or not values:
                raise ProfileError(f"{where}: experiments.{name}.grid.{axis} must be a non-empty list")
        for param, need in (spec.get("needs") or {}).items():
            for key in need or {}:
                if key not in NEED_KEYS:
                    raise unknown_key_error(f"{where}: experiments.{name}.needs.{param}", key, NEED_KEYS)
            targets = [need["experiment"]] if "experiment" in need else list(need.get("after") or [])
            if not targets:
                raise ProfileError(f"{where}: experiments.{name}.needs.{param} names no experiment")
            for target in targets:
                if target not in experiments:
                    raise ProfileError(f"{where}: experiments.{name}.needs.{param}: unknown experiment "
                                       f"{target!r}.{suggest(target, experiments)}")
    for task, params in (data.get("task_params") or {}).items():
        if not isinstance(params, dict):
            raise ProfileError(f"{where}: task_params.{task} must be a mapping")
    engine = data.get("engine", "local")
    if engine not in ("local", "submitit"):
        raise ProfileError(f"{where}: engine must be 'local' or 'submitit', got {engine!r}")
    return Profile(name=data.get("name") or path.stem, path=path, description=data.get("description", ""),
                   notebooks=Path(data.get("notebooks", "notebooks")), defaults=data.get("defaults") or {},
                   task_params=data.get("task_params") or {}, experiments=experiments, engine=engine,
                   jobs=data.get("jobs"), cluster=data.get("cluster") or {})
