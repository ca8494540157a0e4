"""The first thing a notebook does: refuse a parameter it does not have.

papermill puts `-p name value` and `-f file.yaml` into a cell of its own right after the
`parameters` cell, and only warns ("Passed unknown parameter") about a name the notebook does
not have; in JupyterLab a misspelt name in the parameters cell is just another variable. Either
way the run would go on with the default (a misspelt `max_step` trains on the whole split). So the
cell after the parameters calls `check_parameters(globals(), names)`: any other name bound to a
parameter-like value (what a parameters cell or papermill can set: numbers, strings, None,
lists, tuples and dicts of them) is an error that names it, with a did-you-mean, before anything
is written. Names a notebook binds later (a table, a figure) are not parameter-like, so running
all cells again in the same kernel passes too.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ticketlib.tasks.params import Recipe, suggest

# what IPython itself binds in a kernel's namespace
IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class UnknownParameterError(ValueError):
    """A notebook was given (or its parameters cell holds) a name it does not take."""


def is_parameter_like(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple, set)):
        return all(is_parameter_like(v) for v in value)
    if isinstance(value, dict):
        return all(is_parameter_like(k) and is_parameter_like(v) for k, v in value.items())
    return False


def check_parameters(namespace: Mapping[str, Any], names: Iterable[str], recipe: bool = False) -> None:
    """Raise UnknownParameterError for a parameter-like global of `namespace` that is not in
    `names` (the notebook's own parameters; with `recipe`, every Recipe field as well), and for a
    `recipe_extra` key that is not a Recipe field."""
    own = set(names)
    known = own | (set(Recipe.names()) if recipe else set())
    unknown = sorted(
        name
        for name, value in namespace.items()
        if name not in known and not name.startswith("_") and name not in IPYTHON_NAMES and is_parameter_like(value)
    )
    if unknown:
        takes = "the Recipe's fields (ticketlib.tasks.params) and " if recipe else ""
        raise UnknownParameterError(
            f"unknown parameter {unknown[0]!r}.{suggest(unknown[0], known)} This notebook "
            f"takes {takes}{', '.join(sorted(own))}"
        )
    extra = namespace.get("recipe_extra") or {}
    if recipe and isinstance(extra, Mapping):
        for name in extra:
            if name not in Recipe.names():
                raise UnknownParameterError(
                    f"recipe_extra: unknown recipe parameter {name!r}.{suggest(name, Recipe.names())}"
                )
