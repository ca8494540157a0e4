"""The study's report page: `reports/index.html`, results first.

The numbers come from ticketlib.study.tables (one definition for every report), laid out as the
template's rows by ticketlib.study.report_rows; the figures from ticketlib.study.figures (seaborn);
the runs' list and pages from ticketlib.study.run_pages. The page is rendered from
`ticketlib/study/templates/report.html.j2` (jinja2, autoescape on). From the top:

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
from pathlib import Path
from typing import Mapping

import pandas as pd

from ticketlib.foundations import stats as S
from ticketlib.foundations.atomic import atomic_path
from ticketlib.foundations.paths import FIGURES_DIR, INDEX_HTML, RESULTS_CSV, RUNS_JSON
from ticketlib.study import tables as T
from ticketlib.study import wording
from ticketlib.study.claims import judge
from ticketlib.study.figures import curves_figure, layer_figure, overlap_figure, save_figure, transfer_figure
from ticketlib.study.report_rows import diagnostic, gap_rows, learning_sentences, table2_rows, transfer_rows
from ticketlib.study.rules import Rules
from ticketlib.study.run_pages import run_rows, store_text
from ticketlib.study.summary import budget_note
from ticketlib.tickets.results import ROW_COLUMNS

TEMPLATE = "report.html.j2"


def study_rules(meta: dict) -> tuple[Rules, str]:
    """The verdict rules declared for the study: runs.json's copy of the profile's `rules:`, else the
    profile's, else the defaults (ticketlib.study.rules.Rules); and where they came from."""
    from ticketlib.study.profiles import ProfileError, load_profile

    if isinstance(meta.get("rules"), dict) and meta["rules"]:
        return Rules.from_mapping(meta["rules"]), RUNS_JSON
    try:
        profile = load_profile(meta.get("profile") or "")
    except (ProfileError, OSError):
        return Rules(), "the defaults"
    return Rules.from_mapping(profile.rules), f"profile {profile.path.name}"


def _summary_run(meta: dict) -> dict | None:
    found = [r for r in meta["runs"] if r["experiment"] == "summary"] or [
        r for r in meta["runs"] if "note" in (r.get("params") or {})
    ]
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


def draw_figures(
    rows: pd.DataFrame,
    tickets: Mapping[str, Path],
    folder: Path,
    level: int | None = None,
    no_signal: Mapping[str, float] | None = None,
) -> list[dict]:
    """Every figure of the report as `<folder>/<name>.png` and `.svg`; one dict per figure."""
    import matplotlib.pyplot as plt

    specs = [
        (
            "curves",
            "Metric vs sparsity",
            "Each method's mean over seeds (bars: ± 1 std); grey band: the full model's mean ± 1 std, where a "
            "subnetwork counts as matching; dashed: the no-signal score.",
            lambda: curves_figure(rows, no_signal=no_signal),
        ),
        (
            "transfer",
            "Transfer: difference from the target's own ticket",
            "Rows: the task the mask was found on; columns: the task it was fine-tuned on. Colour and first "
            "number: the transferred mask's mean minus the target's own IMP ticket at the same sparsity "
            "(paired by seed); in brackets: its mean.",
            lambda: transfer_figure(rows),
        ),
    ]
    if tickets:
        specs += [
            (
                "layer_sparsity",
                "Sparsity per layer and matrix",
                "Each task's ticket (its overall sparsity in the title): the share of each weight matrix "
                "pruned, per encoder layer; the bottom row is the whole layer.",
                lambda: layer_figure(tickets, level),
            ),
            (
                "mask_overlap",
                "Mask overlap",
                "Jaccard overlap of the pruned weights between the tickets of every pair of tasks.",
                lambda: overlap_figure(tickets, level),
            ),
        ]
    out = []
    if not tickets:  # a committed study whose masks were not kept: its mask figures, as drawn when it ran
        kept = [("layer_sparsity", "Sparsity per layer and matrix"), ("mask_overlap", "Mask overlap")]
        for name, title in kept:
            if (folder / f"{name}.png").is_file():
                out.append(
                    {
                        "name": name,
                        "title": title,
                        "png": f"{folder.name}/{name}.png",
                        "svg": f"{folder.name}/{name}.svg",
                        "caption": "Drawn when the study ran; its masks were not kept, so it is not redrawn.",
                    }
                )
    for name, title, caption, draw in specs:
        fig = draw()
        paths = save_figure(fig, folder, name)
        plt.close(fig)
        out.append(
            {
                "name": name,
                "title": title,
                "caption": caption,
                "png": f"{folder.name}/{paths['png'].name}",
                "svg": f"{folder.name}/{paths['svg'].name}",
            }
        )
    return sorted(
        out, key=lambda f: [s[0] for s in specs].index(f["name"]) if f["name"] in [s[0] for s in specs] else len(specs)
    )


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

    return Environment(
        loader=PackageLoader("ticketlib.study", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(context: dict) -> str:
    """The page from the template (autoescape on: every value is escaped)."""
    return _environment().get_template(TEMPLATE).render(**context)


def _read_meta(reports: Path) -> dict:
    path = reports / RUNS_JSON
    return json.loads(path.read_text()) if path.is_file() else {"profile": None, "runs": []}


def build_report(
    reports: str | Path, no_signal: Mapping[str, float] | None = None, measure_no_signal: bool = True
) -> Path:
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
        "profile": str(meta.get("profile")),
        "description": meta.get("description") or "",
        "store": store_text(str(meta.get("store") or ""), reports),
        "run_count": len(meta["runs"]),
        "status_counts": ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        "compute_min": f"{total / 60:.1f}",
        "claims": wording.claims_context(judgement),
        "rules_origin": rules_origin,
        "learning": learning_sentences(judgement),
        "no_signal_failures": [
            f"{t}: the no-signal score could not be measured ({why})" for t, why in sorted(failures.items())
        ],
        "note": [p.replace("**", "") for p in note.split("\n\n") if p.strip()],
        "table2": table2_rows(judgement),
        "gaps": gap_rows(judgement),
        "transfer": transfer_rows(judgement),
        "diagnostic": diagnostic(judgement, rows, pairs),
        "figures": figures,
        "runs": runs,
        "defaults_origin": origin,
        "confidence": f"{S.CONFIDENCE:.0%}",
        "has_rows": bool(len(rows)),
        "tidy_results": RESULTS_CSV,
    }
    index = reports / INDEX_HTML
    with atomic_path(index) as tmp:
        tmp.write_text(render(context), encoding="utf-8")
    return index
