"""Planning a sweep: a profile's grid expanded into runs, in dependency order, each with its
identity, id and folder (ticketlib.study.identity: the same scheme as runs by hand)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from ticketlib.foundations.atomic import to_jsonable
from ticketlib.foundations.settings import repo_root
from ticketlib.study.identity import notebook_experiment, run_folder, run_id, run_identity
from ticketlib.study.profiles import Profile, ProfileError, unknown_key_error
from ticketlib.sweep.notebooks import notebook_parameters
from ticketlib.tasks.params import Recipe, suggest

SWEEP_PARAMS = ("run_dir", "run_id")  # set by the sweep for every run, never by a profile


@dataclass
class Run:
    experiment: str
    notebook: Path
    label: str
    params: dict  # resolved, dependency parameters excluded
    needs: dict = field(default_factory=dict)  # param -> run (one) or list of runs (after)
    waits: list = field(default_factory=list)  # runs that must finish first
    run_id: str = ""
    folder: Path = Path()

    @property
    def gathers(self) -> bool:
        """Needs whole experiments (`after`: a summary): it runs once they ended, ok or not."""
        return any(isinstance(d, list) for d in self.needs.values())

    @property
    def name(self) -> str:
        return f"{self.experiment}[{self.label}]" if self.label else self.experiment

    def needs_ids(self) -> dict:
        return {p: ([r.run_id for r in d] if isinstance(d, list) else d.run_id) for p, d in self.needs.items()}

    def identity(self) -> dict:
        """ticketlib.study.identity: what the notebook computes (not the profile's experiment name), its
        parameters and the runs it needs."""
        return run_identity(notebook_experiment(self.notebook), self.params, self.needs_ids())

    def dependency_params(self) -> dict:
        return {
            p: ([str(r.folder) for r in d] if isinstance(d, list) else str(d.folder)) for p, d in self.needs.items()
        }

    def notebook_params(self) -> dict:
        """What the notebook is run with (the sweep adds run_dir and run_id)."""
        return to_jsonable({**self.params, **self.dependency_params()})


def _label(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def builds_recipe(names) -> bool:
    """A notebook that builds a Recipe from its parameters (see params.identity_params)."""
    return {"task", "model"} <= set(names)


def expand(profile: Profile, store: Path, root: Path | None = None) -> list[Run]:
    """Every run of the profile, dependencies first, with ids and folders resolved."""
    root = root or repo_root()
    where = str(profile.path)
    notebooks_dir = profile.notebooks if profile.notebooks.is_absolute() else root / profile.notebooks
    experiments = {n: s for n, s in profile.experiments.items() if s.get("enabled", True)}
    known: dict[str, dict] = {}
    for name, spec in experiments.items():
        path = notebooks_dir / spec["notebook"]
        if not path.is_file():
            raise ProfileError(f"{where}: experiments.{name}.notebook: {path} not found")
        known[name] = notebook_parameters(path)
    every = set().union(*known.values()) if known else set()
    for section, mapping in [("defaults", profile.defaults)] + [
        (f"task_params.{t}", p) for t, p in profile.task_params.items()
    ]:
        for key in mapping:
            if key not in every or key in SWEEP_PARAMS:
                raise unknown_key_error(f"{where}: {section}", key, every - set(SWEEP_PARAMS))

    runs: dict[str, list[Run]] = {}
    for name in _order(experiments, where):
        spec, names = experiments[name], known[name]
        fixed, grid = dict(spec.get("params") or {}), dict(spec.get("grid") or {})
        for key in list(fixed) + list(grid):
            if key not in names or key in SWEEP_PARAMS:
                raise unknown_key_error(f"{where}: experiments.{name}", key, set(names) - set(SWEEP_PARAMS))
        needs = spec.get("needs") or {}
        for key in needs:
            if key not in names:
                raise unknown_key_error(f"{where}: experiments.{name}.needs", key, names)
        runs[name] = []
        distinct = spec.get("distinct") or []
        for values in itertools.product(*grid.values()) if grid else [()]:
            point = dict(zip(grid, values))
            if len({repr(point[axis]) for axis in distinct}) < len(distinct):
                continue  # e.g. a transfer whose source is its target: the target's own ticket
            task = {**profile.defaults, **fixed, **point}.get("task", names.get("task"))
            params = {k: v for k, v in names.items() if k not in SWEEP_PARAMS and k not in needs}
            params.update({k: v for k, v in profile.defaults.items() if k in names})
            params.update({k: v for k, v in profile.task_params.get(task, {}).items() if k in names})
            params.update(fixed)
            params.update(point)
            try:  # a notebook that builds a Recipe: check values before anything runs
                if builds_recipe(names):
                    Recipe.from_namespace(params, **(params.get("recipe_extra") or {}))
            except (ValueError, KeyError, TypeError) as error:
                raise ProfileError(f"{where}: experiments.{name} {_label(point)}: {error}") from None
            run = Run(name, notebooks_dir / spec["notebook"], _label(point), params)
            for param, need in needs.items():
                run.needs[param] = _find_needed(run, param, need, runs, where)
            run.waits = [d for v in run.needs.values() for d in (v if isinstance(v, list) else [v])]
            if "source_params" in names and "ticket" in run.needs and "source_params" not in fixed:
                source = run.needs["ticket"].params
                run.params["source_params"] = {
                    k: v for k, v in source.items() if k in Recipe.names() and k != "task" and v != run.params.get(k)
                }
            identity = run.identity()
            run.run_id, run.folder = run_id(identity), run_folder(store, identity)
            runs[name].append(run)
    return [r for name in runs for r in runs[name]]


def _order(experiments: dict, where: str) -> list[str]:
    """Experiments sorted so that every experiment comes after those it needs."""
    done: list[str] = []

    def visit(name, path=()):
        if name in done:
            return
        if name in path:
            raise ProfileError(f"{where}: experiments form a cycle through {name!r}")
        for need in (experiments[name].get("needs") or {}).values():
            for target in [need["experiment"]] if "experiment" in need else need.get("after", []):
                if target not in experiments:
                    raise ProfileError(
                        f"{where}: experiments.{name} needs {target!r}, which is disabled or "
                        f"unknown.{suggest(target, experiments)}"
                    )
                visit(target, path + (name,))
        done.append(name)

    for name in experiments:
        visit(name)
    return done


def _find_needed(run: Run, param: str, need: dict, runs: dict, where: str):
    if "after" in need:
        return [r for target in need["after"] for r in runs[target]]
    match = need.get("match") or {}
    candidates = [
        r
        for r in runs[need["experiment"]]
        if all(r.params.get(theirs) == run.params.get(mine) for theirs, mine in match.items())
    ]
    wanted = ", ".join(f"{theirs}={run.params.get(mine)!r}" for theirs, mine in match.items())
    if len(candidates) != 1:
        problem = "no run" if not candidates else f"{len(candidates)} runs (add keys to 'match')"
        raise ProfileError(
            f"{where}: {run.name} needs {param} from experiment {need['experiment']!r} with "
            f"{wanted or 'any parameters'}, and the profile has {problem}"
        )
    return candidates[0]
