"""The study's report page: `reports/index.html`, results first.

The numbers come from ticketlib.study.tables (one definition for every report), the figures from
ticketlib.study.figures (seaborn), the paper's numbers from ticketlib.foundations.paper. The page is rendered
from `ticketlib/study/templates/report.html.j2` (jinja2, autoescape on). From the top:

  findings    per claim of the paper: the numbers, the paper's, a verdict and its reason;
              per task: whether the full model learned it
  budget      what this profile's budget can and cannot show
  tables      our Table 2 beside the paper's, the paired gaps, the transfer matrix
  figures     each also written as PNG and SVG in `<reports>/figures/`
  runs        folded: status, duration, parameters as the difference from the profile's
              defaults, each run's executed notebook

Everything is a local file: no script, style or font from the network; a print stylesheet.

The summary notebook's own helpers (budget_note, save_summary, layer_table): ticketlib.study.summary.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ticketlib.foundations import stats as S
from ticketlib.foundations.atomic import atomic_path
from ticketlib.foundations.paths import (
    FIGURES_DIR,
    INDEX_HTML,
    NOTEBOOK_HTML,
    PARTIAL_SUFFIX,
    RESULTS_CSV,
    RUNS_DIR,
    RUNS_JSON,
)
from ticketlib.study import tables as T
from ticketlib.study import wording
from ticketlib.study.claims import Judgement, Rules, judge
from ticketlib.study.figures import curves_figure, layer_figure, overlap_figure, save_figure, transfer_figure
from ticketlib.study.overlap import OVERLAP_METHOD
from ticketlib.study.summary import budget_note
from ticketlib.tickets.results import ROW_COLUMNS

TEMPLATE = "report.html.j2"


def _pct(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


def _num(value: float, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"[{low:+.3f}, {high:+.3f}]"


def learning_sentences(study: Judgement) -> list[dict]:
    """Per task, one sentence: the full model's score, its interval, the no-signal score, the verdict."""
    out = []
    for task, item in study.learning.items():
        full = item.full
        if full is None:
            text = f"{task}: no full-model result."
        else:
            ci = (f", {full.confidence:.0%} CI [{full.low:.3f}, {full.high:.3f}]" if full.has_interval else "")
            bar = (f", no-signal score {item.no_signal:.3f}" if item.no_signal is not None
                   else ", no no-signal score recorded")
            text = (f"{task} ({item.metric}): the full model scored {full.mean:.3f} ± {full.std:.3f} over {full.n} "
                    f"seed{'s' if full.n != 1 else ''}{ci}{bar}; {item.reason}.")
        out.append({"task": task, "status": item.status, "css": item.status.replace(" ", "-"), "text": text})
    return out


def table2_rows(study: Judgement) -> list[dict]:
    """Our Table 2 and 4 beside the paper's, one dict per task, for the template."""
    from ticketlib.foundations.paper import paper_row

    out = []
    for _, row in study.matching.iterrows():
        paper = paper_row(row["task"])
        out.append({"task": row["task"], "metric": row["metric"], "learned": row["learned"],
                    "css": row["learned"].replace(" ", "-"),
                    "full": f"{row['full mean']:.3f} ± {row['full std']:.3f} (n = {row['full seeds']})",
                    "tested": row["sparsities tested"] or "none", "seeds": row["seeds per sparsity"],
                    "ours2": row["highest matching (within 1 std)"], "ours4": row["highest matching (>= full)"],
                    "paper_task": f"{paper[0].task}" + ("" if paper[1] == "same task" else f" ({paper[1]})")
                    if paper else "not in the paper",
                    "paper2": _pct(paper[0].table2) if paper else "", "paper4": _pct(paper[0].table4) if paper else ""})
    return out


def gap_rows(study: Judgement) -> list[dict]:
    learned = {t for t, i in study.learning.items() if i.status == T.LEARNED}
    return [{"task": r["task"], "sparsity": _pct(r["sparsity"]), "comparison": r["comparison"],
             "means": f"{r['IMP mean']:.3f} vs {r['other mean']:.3f}", "gap": _num(r["gap"], sign=True),
             "ci": _interval(r["CI low"], r["CI high"]), "pairs": r["pairs"],
             "above": (not math.isnan(r["CI low"])) and r["CI low"] > 0, "counted": r["task"] in learned}
            for _, r in study.gaps.iterrows()]


def transfer_rows(study: Judgement) -> list[dict]:
    return [{"source": r["source"], "target": r["target"], "sparsity": _pct(r["sparsity"]),
             "own": r["source"] == r["target"],
             "mean": f"{r['mean']:.3f} ± {r['std']:.3f} (n = {r['seeds']})",
             "difference": "own ticket" if r["source"] == r["target"] else _num(r["difference"], sign=True),
             "ci": _interval(r["CI low"], r["CI high"]), "matching": "yes" if r["matching"] else "no"}
            for _, r in study.transfer.iterrows()]


def _defaults(meta: dict) -> tuple[dict, dict, str]:
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
    return {k: v for k, v in params.items()
            if k not in defaults or json.dumps(defaults[k], sort_keys=True) != json.dumps(v, sort_keys=True)}


def _fmt_value(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def study_rules(meta: dict) -> tuple[Rules, str]:
    """The verdict rules declared for the study: runs.json's copy of the profile's `rules:`, else the
    profile's, else the defaults (ticketlib.study.claims.Rules); and where they came from."""
    from ticketlib.study.profiles import ProfileError, load_profile

    if isinstance(meta.get("rules"), dict) and meta["rules"]:
        return Rules.from_mapping(meta["rules"]), RUNS_JSON
    try:
        profile = load_profile(meta.get("profile") or "")
    except (ProfileError, OSError):
        return Rules(), "the defaults"
    return Rules.from_mapping(profile.rules), f"profile {profile.path.name}"


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
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # <parent>/ticketlib/study/report.py


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
    defaults, task_params, origin = _defaults(meta)
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
                    tmp.write_text(without_store(page.read_text(encoding="utf-8"), meta.get("store")),
                                   encoding="utf-8")
            link = f"{RUNS_DIR}/{target.name}"
        elif target.is_file():  # a committed study: the notebook was kept, the run store was not
            link = f"{RUNS_DIR}/{target.name}"
        params = run.get("params") or {}
        task_defaults = {**defaults, **task_params.get(params.get("task"), {})}
        changed = params_difference(params, task_defaults)
        status = run["status"] + (" (done before)" if run.get("skipped") and run["status"] == "ok" else "")
        out.append({"experiment": run["experiment"], "label": run.get("label") or "", "run_id": run["run_id"],
                    "status": status, "css": run["status"], "error": run.get("error") or "",
                    "duration": f"{run['duration_s']:.1f} s" if run.get("duration_s") is not None else "",
                    "link": link, "params": [(k, _fmt_value(v)) for k, v in sorted(changed.items())]})
    return out, origin


def _summary_run(meta: dict) -> dict | None:
    found = [r for r in meta["runs"] if r["experiment"] == "summary"] or [
        r for r in meta["runs"] if "note" in (r.get("params") or {})]
    return found[0] if found else None


def _note(meta: dict) -> str:
    summary = _summary_run(meta)
    return str((summary or {}).get("params", {}).get("note") or "")


def _read_rows(reports: Path) -> pd.DataFrame:
    path = reports / RESULTS_CSV
    if not path.is_file():
        return pd.DataFrame(columns=ROW_COLUMNS)
    return pd.read_csv(path) if path.stat().st_size else pd.DataFrame(columns=ROW_COLUMNS)


def _ticket_runs(meta: dict) -> dict[str, Path]:
    from ticketlib.tickets.ticket import ticket_runs

    # every finished run: ticket_runs keeps the find_tickets ones (their run.json says so), whatever
    # the profile named their experiment (e.g. find_tickets_retrieval)
    folders = [Path(r["folder"]) for r in meta["runs"] if r["status"] == "ok"]
    folders = [f for f in folders if f.is_dir()]
    return ticket_runs(folders) if folders else {}


def draw_figures(rows: pd.DataFrame, tickets: Mapping[str, Path], folder: Path, level: int | None = None,
                 no_signal: Mapping[str, float] | None = None) -> list[dict]:
    """Every figure of the report as `<folder>/<name>.png` and `.svg`; one dict per figure."""
    import matplotlib.pyplot as plt

    specs = [("curves", "Metric vs sparsity",
              "Each method's mean over seeds (bars: ± 1 std); grey band: the full model's mean ± 1 std, where a "
              "subnetwork counts as matching; dashed: the no-signal score.", lambda: curves_figure(rows,
                                                                                                  no_signal=no_signal)),
             ("transfer", "Transfer: difference from the target's own ticket",
              "Rows: the task the mask was found on; columns: the task it was fine-tuned on. Colour and first "
              "number: the transferred mask's mean minus the target's own IMP ticket at the same sparsity "
              "(paired by seed); in brackets: its mean.", lambda: transfer_figure(rows))]
    if tickets:
        specs += [("layer_sparsity", "Sparsity per layer and matrix",
                   "Each task's ticket (its overall sparsity in the title): the share of each weight matrix "
                   "pruned, per encoder layer; the bottom row is the whole layer.",
                   lambda: layer_figure(tickets, level)),
                  ("mask_overlap", "Mask overlap",
                   "Jaccard overlap of the pruned weights between the tickets of every pair of tasks.",
                   lambda: overlap_figure(tickets, level))]
    out = []
    if not tickets:  # a committed study whose masks were not kept: its mask figures, as drawn when it ran
        kept = [("layer_sparsity", "Sparsity per layer and matrix"), ("mask_overlap", "Mask overlap")]
        for name, title in kept:
            if (folder / f"{name}.png").is_file():
                out.append({"name": name, "title": title, "png": f"{folder.name}/{name}.png",
                            "svg": f"{folder.name}/{name}.svg",
                            "caption": "Drawn when the study ran; its masks were not kept, so it is not redrawn."})
    for name, title, caption, draw in specs:
        fig = draw()
        paths = save_figure(fig, folder, name)
        plt.close(fig)
        out.append({"name": name, "title": title, "caption": caption,
                    "png": f"{folder.name}/{paths['png'].name}", "svg": f"{folder.name}/{paths['svg'].name}"})
    return sorted(out, key=lambda f: [s[0] for s in specs].index(f["name"]) if f["name"] in [s[0] for s in specs]
                  else len(specs))


def no_signal_from_runs(meta: dict, rows: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    """For the tasks whose rows carry no no-signal score: the score measured on the eval data of the
    task's first finished run (its recipe from runs.json; data.TaskData.no_signal).
    Returns (task -> score, task -> why it could not be measured)."""
    import dataclasses

    from ticketlib.tasks.data.errors import DataUnavailableError
    from ticketlib.tasks.params import Recipe
    from ticketlib.tasks.registry import get_task
    from ticketlib.tasks.run_inputs import load_data

    have = T.no_signal_scores(rows)
    tasks = set(rows["task"]) if len(rows) else set()
    fields = {f.name for f in dataclasses.fields(Recipe)}
    scores, failures = {}, {}
    for run in meta["runs"]:
        params = run.get("params") or {}
        task = params.get("task")
        if run["status"] != "ok" or task not in tasks or task in have or task in scores:
            continue
        try:
            own = {k: v for k, v in params.items() if k in fields}
            recipe = Recipe(**{**own, **(params.get("recipe_extra") or {})})
            measured = load_data(recipe).data.no_signal()
        except (DataUnavailableError, OSError, ValueError, KeyError) as error:
            failures[task] = f"{type(error).__name__}: {error}"
            continue
        metric = get_task(task).matching_metric
        if metric in measured:
            scores[task] = measured[metric]
            failures.pop(task, None)
    return scores, failures


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("ticketlib.study", "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render(context: dict) -> str:
    """The page from the template (autoescape on: every value is escaped)."""
    return _environment().get_template(TEMPLATE).render(**context)


def _read_meta(reports: Path) -> dict:
    path = reports / RUNS_JSON
    return json.loads(path.read_text()) if path.is_file() else {"profile": None, "runs": []}


def build_report(reports: str | Path, no_signal: Mapping[str, float] | None = None,
                 measure_no_signal: bool = True) -> Path:
    """`<reports>/index.html` from `<reports>/results.csv` and `<reports>/runs.json` (written by the
    sweep): findings, tables, figures (`<reports>/figures/`), runs (notebooks copied to
    `<reports>/runs/`). `no_signal`: task -> no-signal score, for rows that do not carry it;
    `measure_no_signal`: measure the missing ones on each task's eval data (no_signal_from_runs)."""
    reports = Path(reports)
    meta = _read_meta(reports)
    rows = _read_rows(reports)
    failures: dict[str, str] = {}
    if measure_no_signal and len(rows):
        # still needed: a task whose ticket came from outside the study (`ticket`: a mask file) has no no_signal rows
        measured, failures = no_signal_from_runs(meta, rows)
        no_signal = {**measured, **(no_signal or {})}
    rules, rules_origin = study_rules(meta)
    judgement = judge(rows, rules, no_signal)
    summary = _summary_run(meta)
    level = (summary or {}).get("params", {}).get("level")
    figures = draw_figures(rows, _ticket_runs(meta), reports / FIGURES_DIR, level, no_signal) if len(rows) else []
    runs, origin = run_rows(meta, reports)
    counts = pd.Series([r["status"] for r in meta["runs"]], dtype=object).value_counts().to_dict()
    total = sum(r.get("duration_s") or 0 for r in meta["runs"])
    note = budget_note(rows, _note(meta))
    pairs = T.source_pair_gaps(rows)
    context = {
        "profile": str(meta.get("profile")), "description": meta.get("description") or "",
        "store": store_text(str(meta.get("store") or ""), reports), "run_count": len(meta["runs"]),
        "status_counts": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), "compute_min": f"{total / 60:.1f}",
        "claims": wording.claims_context(judgement), "rules_origin": rules_origin,
        "learning": learning_sentences(judgement),
        "no_signal_failures": [f"{t}: the no-signal score could not be measured ({why})"
                               for t, why in sorted(failures.items())],
        "note": [p.replace("**", "") for p in note.split("\n\n") if p.strip()],
        "table2": table2_rows(judgement), "gaps": gap_rows(judgement), "transfer": transfer_rows(judgement),
        "diagnostic": diagnostic(judgement, rows, pairs),
        "figures": figures, "runs": runs, "defaults_origin": origin,
        "confidence": f"{S.CONFIDENCE:.0%}", "has_rows": bool(len(rows)),
        "tidy_results": RESULTS_CSV,
    }
    index = reports / INDEX_HTML
    with atomic_path(index) as tmp:
        tmp.write_text(render(context), encoding="utf-8")
    return index


def diagnostic(judgement: Judgement, rows: pd.DataFrame, pairs: pd.DataFrame) -> dict:
    """Ticket or magnitude pruning? The masks' overlaps (rows of method "mask_overlap"), IMP - OMP
    where OMP ran, and what these imply for the transfer test."""
    overlaps = rows[rows["method"] == OVERLAP_METHOD] if len(rows) else rows
    omp = judgement.gaps[judgement.gaps["method"] == "omp"] if len(judgement.gaps) else judgement.gaps
    return {"overlaps": [{"task": r["task"], "other": r["source_task"], "sparsity": _pct(r["sparsity"]),
                          "jaccard": f"{r['value']:.3f}"} for _, r in overlaps.iterrows()],
            "omp": [{"task": r["task"], "sparsity": _pct(r["sparsity"]), "gap": _num(r["gap"], sign=True),
                     "ci": _interval(r["CI low"], r["CI high"]), "pairs": r["pairs"]} for _, r in omp.iterrows()],
            "pairs": [{"target": r["target"], "sparsity": _pct(r["sparsity"]), "a": r["a"], "b": r["b"],
                       "gap": _num(r["gap"], sign=True), "ci": _interval(r["CI low"], r["CI high"]),
                       "apart": not (r["CI low"] <= 0 <= r["CI high"])} for _, r in pairs.iterrows()],
            "overlap_text": wording.overlap_text(overlaps), "sentence": wording.overlap_sentence(pairs)}
