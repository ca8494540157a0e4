"""Profiles: YAML files under params/ that set the notebooks' parameters for a whole study.

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
        distinct: [task, source_task]  # optional: skip grid points where these axes are equal
        needs: {<param>: {experiment: find_tickets, match: {task: source_task}}}  # another run's folder
               {<param>: {after: [find_tickets, ...]}}                            # a list of run folders
        enabled: true

Unknown or misspelt keys are errors that name the key (no silent defaults): profile keys
are checked here, parameter names against the notebooks' parameters cells (ticketlib.sweep),
parameter values by `Recipe` when a run starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ticketlib.foundations.settings import repo_root
from ticketlib.tasks.params import suggest

PROFILE_KEYS = {
    "extends",
    "name",
    "description",
    "notebooks",
    "defaults",
    "task_params",
    "experiments",
    "engine",
    "jobs",
    "cluster",
    "rules",
}
EXPERIMENT_KEYS = {"notebook", "params", "grid", "distinct", "needs", "enabled", "description"}
NEED_KEYS = {"experiment", "match", "after"}
REPLACED = {"grid", "needs"}  # replaced, not merged, when a profile extends another


class ProfileError(ValueError):
    """A profile that cannot be used: names the file and the key."""


def unknown_key_error(where: str, key: str, known) -> ProfileError:
    return ProfileError(f"{where}: unknown key {key!r}.{suggest(key, known)} Known: {', '.join(sorted(known))}")


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
    # the verdict rules, declared before the run (ticketlib.study.rules.Rules)
    rules: dict = field(default_factory=dict)


def merge(base: Any, override: Any, key: str | None = None) -> Any:
    """Deep merge: mappings merge (except `grid`/`needs`, replaced whole), anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict) and key not in REPLACED:
        # the extending profile's order first: it is the order the sweep starts experiments in
        merged = {k: merge(base[k], v, k) if k in base else v for k, v in override.items()}
        merged.update({k: v for k, v in base.items() if k not in merged})
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
        data = merge(read_profile_data(_extended(path, str(parent)), seen + (path,)), data)
    return data


def _extended(path: Path, parent: str) -> Path:
    """`extends: X`: X beside the profile, else a shipped profile by name (params/quick.yaml for
    `quick.yaml` or `quick`), so a profile anywhere can extend the shipped ones."""
    beside = path.parent / parent
    if beside.is_file() or Path(parent).name != parent:
        return beside
    shipped = resolve_profile_path(Path(parent).stem)
    return shipped if shipped.is_file() else beside


def resolve_profile_path(name_or_path: str | os.PathLike, root: Path | None = None) -> Path:
    """`quick` -> params/quick.yaml (under `root`, default: the repository root)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return path
    root = root or repo_root()
    found = root / "params" / f"{path}.yaml"
    if not found.is_file():
        shipped = sorted(p.stem for p in (root / "params").glob("*.yaml"))
        raise ProfileError(
            f"unknown profile {str(name_or_path)!r}.{suggest(str(name_or_path), shipped)} Profiles: "
            f"{', '.join(shipped)} (params/), or a YAML file's path"
        )
    return found


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
        distinct = spec.get("distinct")
        if distinct is not None and (not isinstance(distinct, list) or len(distinct) < 2):
            raise ProfileError(f"{where}: experiments.{name}.distinct must list two or more grid axes")
        for axis in distinct or []:
            if axis not in (spec.get("grid") or {}):
                raise unknown_key_error(f"{where}: experiments.{name}.distinct", axis, set(spec.get("grid") or {}))
        for param, need in (spec.get("needs") or {}).items():
            for key in need or {}:
                if key not in NEED_KEYS:
                    raise unknown_key_error(f"{where}: experiments.{name}.needs.{param}", key, NEED_KEYS)
            targets = [need["experiment"]] if "experiment" in need else list(need.get("after") or [])
            if not targets:
                raise ProfileError(f"{where}: experiments.{name}.needs.{param} names no experiment")
            for target in targets:
                if target not in experiments:
                    raise ProfileError(
                        f"{where}: experiments.{name}.needs.{param}: unknown experiment "
                        f"{target!r}.{suggest(target, experiments)}"
                    )
    for task, params in (data.get("task_params") or {}).items():
        if not isinstance(params, dict):
            raise ProfileError(f"{where}: task_params.{task} must be a mapping")
    rules = data.get("rules") or {}
    try:
        from ticketlib.study.rules import Rules

        Rules.from_mapping(rules)
    except (TypeError, ValueError) as error:
        raise ProfileError(f"{where}: {error}") from None
    engine = data.get("engine", "local")
    if engine not in ("local", "submitit"):
        raise ProfileError(f"{where}: engine must be 'local' or 'submitit', got {engine!r}")
    return Profile(
        name=data.get("name") or path.stem,
        path=path,
        description=data.get("description", ""),
        notebooks=Path(data.get("notebooks", "notebooks")),
        defaults=data.get("defaults") or {},
        task_params=data.get("task_params") or {},
        experiments=experiments,
        engine=engine,
        jobs=data.get("jobs"),
        cluster=data.get("cluster") or {},
        rules=rules,
    )
