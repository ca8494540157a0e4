"""The report's list of runs: each run's status, duration and the parameters it sets apart from
the study's defaults, and its executed notebook's page copied into the reports folder with no
folder of the machine that ran it (the run store written as <store>)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ticketlib.foundations.atomic import atomic_path
from ticketlib.foundations.paths import NOTEBOOK_HTML, PARTIAL_SUFFIX, RUNS_DIR, RUNS_JSON


def profile_defaults(meta: dict) -> tuple[dict, dict, str]:
    """(defaults, task_params, where they came from): every Recipe field's default (the notebooks'
    recipe cell), overridden by the profile's defaults: runs.json's own copy, else the profile."""
    import dataclasses

    from ticketlib.study.profiles import ProfileError, load_profile
    from ticketlib.tasks.params import Recipe

    recipe = {f.name: f.default for f in dataclasses.fields(Recipe) if f.default is not dataclasses.MISSING}
    if isinstance(meta.get("defaults"), dict):
        return {**recipe, **meta["defaults"]}, meta.get("task_params") or {}, RUNS_JSON
    try:
        profile = load_profile(meta.get("profile") or "")
    except (ProfileError, OSError) as error:
        return recipe, {}, f"the profile could not be read: {error}"
    return {**recipe, **profile.defaults}, profile.task_params, f"profile {profile.path.name}"


def params_difference(params: dict, defaults: dict) -> dict:
    """The run's parameters that differ from `defaults` (those `defaults` lacks included)."""
    return {
        k: v
        for k, v in params.items()
        if k not in defaults or json.dumps(defaults[k], sort_keys=True) != json.dumps(v, sort_keys=True)
    }


def _fmt_value(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def store_text(store: str, reports: Path) -> str:
    """The run store for the page: relative to the reports folder's parent when below it; never an
    absolute path of the machine that ran the study."""
    if not store:
        return "not kept"
    path = Path(store)
    try:
        return str(path.resolve().relative_to(reports.resolve().parent))
    except ValueError:
        return f"{path.name}/ (outside this folder)"


# An absolute folder followed by a run folder of a store (<experiment>/[<name>-]<12-hex run id>): the
# store a run was made in, which for a run imported from a shard is another machine's store.
_RUN_STORE = re.compile(r"(?<![\w.;])/(?:[\w.\-]+/)+?(?=[\w\-]+/(?:[\w.\-]+-)?[0-9a-f]{12}(?:\.partial)?\b)")
# The folder ticketlib is imported from (a clone, or site-packages): warnings printed in a run's
# notebook name their source file below it.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # <parent>/ticketlib/study/run_pages.py


def without_store(html: str, store: str | None) -> str:
    """A run's page with the run store's path (printed by its notebook: "run folder: ...")
    written as &lt;store&gt;, so that a committed report names no folder of the machine it ran on:
    this study's store, and the store any run folder was made in (a shard's, on another machine)."""
    for path in {str(store), str(Path(store).resolve())} if store else ():
        html = html.replace(path, "&lt;store&gt;")
    html = html.replace(f"{_PACKAGE_PARENT}/", "")  # a warning's source file: ticketlib/core/structured.py
    return _RUN_STORE.sub("&lt;store&gt;/", html)


def run_rows(meta: dict, reports: Path) -> tuple[list[dict], str]:
    """Each run for the folded table; its notebook HTML copied to `<reports>/runs/`."""
    defaults, task_params, origin = profile_defaults(meta)
    (reports / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    out = []
    for run in meta["runs"]:
        folder = Path(run["folder"])
        link = ""
        target = reports / RUNS_DIR / f"{run['experiment']}-{folder.name.removesuffix(PARTIAL_SUFFIX)}.html"
        page = folder / NOTEBOOK_HTML
        if page.is_file():
            if not target.is_file() or target.stat().st_mtime < page.stat().st_mtime:
                with atomic_path(target) as tmp:
                    tmp.write_text(without_store(page.read_text(encoding="utf-8"), meta.get("store")), encoding="utf-8")
            link = f"{RUNS_DIR}/{target.name}"
        elif target.is_file():  # a committed study: the notebook was kept, the run store was not
            link = f"{RUNS_DIR}/{target.name}"
        params = run.get("params") or {}
        task_defaults = {**defaults, **task_params.get(params.get("task"), {})}
        changed = params_difference(params, task_defaults)
        status = run["status"] + (" (done before)" if run.get("skipped") and run["status"] == "ok" else "")
        out.append(
            {
                "experiment": run["experiment"],
                "label": run.get("label") or "",
                "run_id": run["run_id"],
                "status": status,
                "css": run["status"],
                "error": run.get("error") or "",
                "duration": f"{run['duration_s']:.1f} s" if run.get("duration_s") is not None else "",
                "link": link,
                "params": [(k, _fmt_value(v)) for k, v in sorted(changed.items())],
            }
        )
    return out, origin
