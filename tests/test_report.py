"""Reports: index.html from a hand-written study (no training): findings first, verdicts, a task
at chance reported as such, figures whose drawn data are the computed numbers, files as PNG and
SVG, nothing from the network; and a real headless browser (Debian's chromium driven by
Playwright, tests/browser.py) that opens the report offline and checks that it renders and its
links resolve."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from browser import open_browser, visit  # noqa: E402
from report_fixtures import MATRICES, RT_IMP, SPARSITY, make_study, study_rows  # noqa: E402

from ticketlib.core.masks import masks_overlap  # noqa: E402
from ticketlib.study import cells as C  # noqa: E402
from ticketlib.study import figures, report, run_pages, summary  # noqa: E402
from ticketlib.study import tables as T  # noqa: E402
from ticketlib.study.rules import Verdict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# One worker under pytest-xdist (--dist loadgroup): the module-scoped report (`built`) and browser are made once.
pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import os

    reports = make_study(tmp_path_factory.mktemp("study"))
    old = os.umask(0o022)  # a user's usual umask: the report must then be readable by others
    try:
        return report.build_report(reports)
    finally:
        os.umask(old)


# --- the page -------------------------------------------------------------------------------


def test_findings_come_first_and_the_runs_last_folded(built):
    text = built.read_text()
    order = [
        text.index(f'id="{name}"')
        for name in ("findings", "learned", "diagnostic", "budget", "table2", "gaps", "transfer", "figures", "runs")
    ]
    assert order == sorted(order)
    runs = text[text.index('id="runs"') :]
    assert "<details>" in runs and "<summary>" in runs
    # before the runs, only evidence lists are folded (never a claim's table)
    assert text[: text.index('id="runs"')].count("<details") == text[: text.index('id="runs"')].count(
        '<details class="evidence"'
    )
    for number in (1, 2, 3):
        assert f'id="claim-{number}"' in text[: text.index('id="budget"')]


def test_verdicts_and_a_task_at_chance_are_stated(built):
    text = built.read_text()
    findings = text[: text.index('id="budget"')]
    verdicts = re.findall(r'<span class="verdict">([a-z ]+)</span>', findings)
    assert verdicts == ["undecided", "undecided", "undecided"]  # claims.judge's values (tests/test_claims.py)
    assert re.search(
        r'<tr><td>rt-sentiment</td><td class="undecided">undecided<br><small>about \d+ seeds would '
        r"decide it</small>",
        findings,
    )
    assert "the source mask is not a ticket" in findings  # claim 3's gate, tested at the lowest pruned level
    assert "Rule: Per task: matching when IMP - full" in findings
    assert re.search(
        r'class="did-not-learn">did not learn</span>: squad-qnli \(accuracy\): the full model scored '
        r"0\.510 ± 0\.010 over 3 seeds, 95% CI \[0\.485, 0\.535\], no-signal score 0\.500; the full "
        r"model&#39;s 95% interval \[0\.485, 0\.535\] reaches the no-signal score 0\.500\.",
        findings,
    )
    assert "The paper: Table 2: highest matching sparsity 40% (SQuAD) to 90% (QQP)" in findings
    table2 = text[text.index('id="table2"') : text.index('id="gaps"')]
    assert "<th>Paper Table 2</th>" in table2 and "SST-2 (stand-in)" in table2 and "<th>Task</th>" in table2
    assert 'class="excluded"><td>squad-qnli</td>' in table2  # the task at chance, greyed


def test_no_machine_path_and_files_readable_by_others(built):
    text = built.read_text()
    meta = json.loads((built.parent / "runs.json").read_text())
    assert meta["store"] not in text, text[text.index(meta["store"]) - 300 : text.index(meta["store"]) + 80]
    assert "Run store: <code>store</code>" in text
    for name in ("index.html", "results.csv"):
        assert (built.parent / name).stat().st_mode & 0o044 == 0o044, name  # under umask 022: 0644


def test_a_run_page_names_the_store_not_its_path(tmp_path):
    store = tmp_path / "store"
    page = f"<pre>run folder: {store}/find_tickets/sst2-32a04136cbf3.partial (new)</pre>"
    expected = "<pre>run folder: &lt;store&gt;/find_tickets/sst2-32a04136cbf3.partial (new)</pre>"
    assert run_pages.without_store(page, str(store)) == expected
    assert run_pages.without_store(page, "") == expected  # a store not named: found by its run folders
    assert run_pages.without_store("<pre>/srv/data/sst2</pre>", "") == "<pre>/srv/data/sst2</pre>"


def test_a_run_page_made_in_another_store_names_no_machine_path(tmp_path):
    """A run imported from a shard printed the store of the machine it ran on."""
    page = (
        "<pre>run folder: /work/other-runs/baselines/rt-sentiment-1d2def0b5b29.partial (new)\n"
        "ticket: /home/me/runs/find_tickets/sst2-32a04136cbf3/level_2\n"
        "summary: /srv/s/summary/c07d1383fc21\n"
        "assets: /root/.cache/bert-tickets/assets/minilm</pre>"
    )
    expected = (
        "<pre>run folder: &lt;store&gt;/baselines/rt-sentiment-1d2def0b5b29.partial (new)\n"
        "ticket: &lt;store&gt;/find_tickets/sst2-32a04136cbf3/level_2\n"
        "summary: &lt;store&gt;/summary/c07d1383fc21\n"
        "assets: /root/.cache/bert-tickets/assets/minilm</pre>"
    )
    assert run_pages.without_store(page, str(tmp_path / "store")) == expected
    assert run_pages.without_store(expected, str(tmp_path / "store")) == expected  # written once


def test_a_warning_in_a_run_page_names_its_source_file_without_the_clone():
    import ticketlib.core.structured

    source = Path(ticketlib.core.structured.__file__).resolve()
    page = f"<pre>{source}:339: UserWarning: LAYER COLLAPSE</pre>"
    assert (
        run_pages.without_store(page, "") == "<pre>ticketlib/core/structured.py:339: UserWarning: LAYER COLLAPSE</pre>"
    )


MACHINE_PATHS = ("/work/", "/home/", "/tmp/", "/root/", "/Users/", "file://")


def test_no_committed_report_page_holds_a_machine_path():
    """Every page of every committed study (index and run notebooks), read as files: the browser
    test opens the CPU study's first screen and three run pages; this reads them all."""
    pages = sorted((ROOT / "reports").rglob("*.html"))
    assert len(pages) > 10, pages  # the committed studies are there
    found = {str(p.relative_to(ROOT)): m for p in pages for m in MACHINE_PATHS if m in p.read_text(encoding="utf-8")}
    assert found == {}, found


def test_nothing_from_the_network_and_values_escaped(built):
    text = built.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "http://" not in text and "https://" not in text
    assert "RuntimeError: &lt;boom&gt; &amp; co" in text and "<boom>" not in text  # autoescape
    assert "@media print" in text


def test_runs_show_parameters_as_the_difference_from_the_defaults(built):
    runs = built.read_text().split('id="runs"')[1]
    qnli = runs[runs.index("task=squad-qnli</td>") :].split("</tr>")[0]
    assert "task=&#34;squad-qnli&#34;" in qnli and "max_steps" not in qnli  # 32 is its task_params value
    retrieval = runs[runs.index("task=squad-retrieval</td>") :].split("</tr>")[0]
    assert "learning_rate" not in retrieval and "model=" not in retrieval
    baselines = runs[runs.index("<td>baselines</td>") :].split("</tr>")[0]
    assert "at_levels=[1, 2, 3, 4]" in baselines and "seeds=[0, 1, 2]" in baselines
    assert len(re.findall(r'href="runs/[^"]+\.html">notebook</a>', runs)) == 8
    assert run_pages.params_difference({"a": 1, "b": [1, 2], "c": 3}, {"a": 1, "b": [1, 2], "c": 4}) == {"c": 3}


def test_figures_are_files_beside_the_page(built):
    meta = json.loads((built.parent / "runs.json").read_text())  # tickets by run.json, whatever the experiment's name
    assert set(report._ticket_runs(meta)) == {"rt-sentiment", "squad-qnli", "squad-retrieval"}
    assert "What it can show: matching up to 40%." in built.read_text()  # the summary run's note
    folder = built.parent / "figures"
    names = ("curves", "transfer", "layer_sparsity", "mask_overlap")
    for name in names:
        assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = (folder / f"{name}.svg").read_text()
        assert "<svg" in svg and "</svg>" in svg
        assert f'src="figures/{name}.png"' in built.read_text() and f'href="figures/{name}.svg"' in built.read_text()


def test_the_report_without_results_says_so(tmp_path):
    reports = make_study(tmp_path)
    (reports / "results.csv").write_text("")
    text = report.build_report(reports).read_text()
    assert "No results yet" in text and text.count('<span class="verdict">not testable</span>') == 3


@pytest.mark.slow
def test_a_missing_no_signal_score_is_measured_on_the_tasks_eval_data(tmp_path):
    """Rows without no_signal rows: the report measures the bar on the find_tickets run's eval data
    (rt-sentiment, offline assets fetched by scripts/setup.sh): the majority class's share."""
    import collections

    from ticketlib.tasks.params import Recipe
    from ticketlib.tasks.run_inputs import load_data

    params = {
        "task": "rt-sentiment",
        "model": "offline-minilm",
        "source": "offline",
        "max_train_examples": 32,
        "max_eval_examples": 120,
    }
    meta = {
        "runs": [
            {"experiment": "find_tickets", "status": "ok", "params": params},
            {"experiment": "find_tickets", "status": "ok", "params": {**params, "task": "not-in-rows"}},
        ]
    }
    rows = study_rows()
    rows = rows[(rows["task"] == "rt-sentiment") & (rows["method"] != "no_signal")]
    scores, failures = report.no_signal_from_runs(meta, rows)
    labels = [f["labels"] for f in load_data(Recipe(**params)).data.eval_features]
    assert len(labels) == 120 and failures == {}
    assert scores == {"rt-sentiment": pytest.approx(max(collections.Counter(labels).values()) / 120)}
    bad = {
        "runs": [
            {
                "experiment": "find_tickets",
                "status": "ok",
                "params": {**params, "source": "glue_dir", "glue_dir": str(tmp_path)},
            }
        ]
    }
    scores, failures = report.no_signal_from_runs(bad, rows)
    assert scores == {} and "rt-sentiment" in failures


# --- figures: the drawn data are the computed numbers -----------------------------------------


def _lines(ax):
    return [
        (tuple(np.round(line.get_xdata(), 6)), tuple(np.round(line.get_ydata(), 6)))
        for line in ax.lines
        if len(line.get_xdata()) and line.get_linestyle() not in ("None", "")
    ]


def test_curves_plot_the_seed_means():
    rows = study_rows()
    fig = figures.curves_figure(rows)
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert set(axes) == {"rt-sentiment", "squad-qnli (did not learn)", "squad-retrieval"}
    drawn = _lines(axes["rt-sentiment"])
    stats = C.seed_stats(rows)
    rt = stats[stats["task"] == "rt-sentiment"]
    for method, source in (
        ("random_pruning", "rt-sentiment"),
        ("random_reinit", "rt-sentiment"),
        ("transfer", "squad-retrieval"),
    ):
        part = rt[(rt["method"] == method) & (rt["source_task"] == source)].sort_values("sparsity")
        expected = (tuple(np.round(part["sparsity"], 6)), tuple(np.round(part["mean"], 6)))
        assert expected in drawn, (method, expected, drawn)
    imp = rt[rt["method"].isin(["full", "imp"])].sort_values("sparsity")  # IMP starts at the full model
    assert (tuple(np.round(imp["sparsity"], 6)), tuple(np.round(imp["mean"], 6))) in drawn
    assert (tuple(np.round(imp["mean"], 6))[:2]) == (0.81, 0.81)
    ax = axes["rt-sentiment"]
    band = [p for p in ax.patches if p.get_y() == pytest.approx(0.80)]  # full 0.81 - 0.01 ... 0.81 + 0.01
    assert band and band[0].get_height() == pytest.approx(0.02)
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == pytest.approx(0.51) for line in ax.lines)
    legend = fig.legends[0]
    assert fig.axes[0].get_legend() is None  # below the axes, never over the data
    assert (
        legend.get_window_extent(fig.canvas.get_renderer()).y1
        <= min(a.get_tightbbox(fig.canvas.get_renderer()).y0 for a in fig.axes) + 1
    )


def test_transfer_heatmap_shows_the_differences_from_the_own_ticket():
    rows = study_rows()
    fig = figures.transfer_figure(rows)
    ax = fig.axes[0]
    sources = [t.get_text() for t in ax.get_yticklabels()]
    targets = [t.get_text() for t in ax.get_xticklabels()]
    values = np.asarray(ax.collections[0].get_array()).reshape(len(sources), len(targets))
    expected = {
        ("squad-retrieval", "rt-sentiment"): -0.02 / 3,  # (0.79-0.80 + 0.80-0.81 + 0.80-0.80) / 3
        ("rt-sentiment", "squad-retrieval"): -0.44 / 3,  # (0.70-0.89 + 0.75-0.90 + 0.80-0.90) / 3
        ("rt-sentiment", "rt-sentiment"): 0.0,
        ("squad-retrieval", "squad-retrieval"): 0.0,
    }
    for (source, target), value in expected.items():
        assert values[sources.index(source), targets.index(target)] == pytest.approx(value)
    texts = [t.get_text() for t in ax.texts]
    assert "-0.007\n(0.797)" in texts and "own ticket\n(0.803)" in texts
    empty = figures.transfer_figure(rows[rows["method"] != "transfer"])
    assert empty.axes[0].texts[0].get_text() == "no transfer runs"


def test_layer_and_overlap_heatmaps_show_the_masks(tmp_path):
    from report_fixtures import make_ticket_run

    from ticketlib.tickets.ticket import load_ticket

    runs = {task: make_ticket_run(tmp_path / task, task, seed=i) for i, task in enumerate(("a-task", "b-task"))}
    fig = figures.layer_figure(runs, level=2)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2
    for ax, task in zip(fig.axes, runs):
        mask = load_ticket(runs[task], 2).mask
        grid = np.asarray(ax.collections[0].get_array()).reshape(7, 2)  # 6 matrices + the whole layer, 2 layers
        for layer in range(2):
            for row, matrix in enumerate(MATRICES):
                kept = mask[f"encoder.layer.{layer}.{matrix}.weight"]
                assert grid[row, layer] == pytest.approx(1 - kept.float().mean().item())
            pruned = sum(int((~mask[f"encoder.layer.{layer}.{m}.weight"]).sum()) for m in MATRICES)
            assert grid[6, layer] == pytest.approx(pruned / (64 * len(MATRICES)))
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()][-1] == "whole layer"
    overlap = figures.overlap_figure(runs, level=2)
    values = np.asarray(overlap.axes[0].collections[0].get_array()).reshape(2, 2)
    a, b = (load_ticket(runs[t], 2).mask for t in runs)
    assert values[0, 1] == pytest.approx(masks_overlap(a, b)) and values[0, 0] == 1.0
    assert summary.layer_table(runs, 2).shape == (2, 2)


def test_summary_notebook_api_keeps_working(tmp_path):
    rows = study_rows()
    table2 = T.matching_table(rows)
    # the columns the notebook prints, from the fixture's grid: rt-sentiment's IMP levels, 3 seeds each
    printed = table2.set_index("task")
    assert list(printed.index) == ["rt-sentiment", "squad-qnli", "squad-retrieval"]
    assert printed.loc["rt-sentiment", "sparsities tested"] == ", ".join(f"{SPARSITY[level]:.0%}" for level in RT_IMP)
    assert printed.loc["rt-sentiment", "seeds per sparsity"] == ", ".join(str(len(v)) for v in RT_IMP.values())
    assert printed.loc["squad-qnli", "sparsities tested"] == f"{SPARSITY[2]:.0%}"  # its one pruned level
    assert list(printed["learned"]) == ["learned", "did not learn", "learned"]
    assert list(T.matching_table(rows.iloc[:0]).columns) == T.MATCHING_COLUMNS
    note = summary.budget_note(rows, "plain words")
    assert "3 seed(s) per evaluated subnetwork" in note and "plain words" in note
    more_imp_seeds = pd.concat([rows, rows[rows["method"] == "imp"].assign(seed=7)])
    assert "4 seed(s) per IMP level, up to 3 per other evaluated subnetwork" in summary.budget_note(more_imp_seeds)
    assert summary.budget_note(rows.iloc[:0]).startswith("**No results")
    summary.save_summary(tmp_path, {"table_2": table2}, {"curves": figures.curves_figure(rows)}, note="One.\n\nTwo.")
    folder = tmp_path / "summary"
    assert json.loads((folder / "order.json").read_text()) == [
        {"kind": "table", "name": "table_2"},
        {"kind": "figure", "name": "curves"},
    ]
    assert (folder / "curves.png").is_file() and (folder / "curves.svg").is_file()
    assert (folder / "note.html").read_text() == "<p>One.</p><p>Two.</p>"
    assert pd.read_csv(folder / "table_2.csv").columns[0] == "task"  # no index column
    assert not list(folder.glob(".*tmp"))


# --- a real browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with open_browser() as instance:
        yield instance


def check_in_browser(browser, index: Path, notebooks: int | None = None) -> None:
    """The page renders offline, its images load, every link resolves; the first `notebooks` run
    notebooks it links (all by default) render too."""
    page = visit(browser, index.resolve().as_uri())
    assert page["text"] > 200, page
    assert any("Findings" in h for h in page["headings"]) and page["tables"] >= 2
    assert page["images"] and all(image["ok"] for image in page["images"]), page["images"]
    remote = [u for u in page["requests"] if u.startswith(("http://", "https://"))]
    assert not remote, f"index.html asked the network for {remote}"
    for link in page["links"]:
        assert link.startswith("file://"), link
        target = Path(urllib.request.url2pathname(link.removeprefix("file://").split("#")[0]))
        assert target.is_file(), f"broken link {link}"
        if target.suffix == ".html" and (notebooks is None or notebooks > 0):  # the run's notebook renders too
            notebooks = None if notebooks is None else notebooks - 1
            run = visit(browser, link)
            assert run["text"] > 0, link
            assert all(image["ok"] for image in run["images"]), link


def test_report_renders_in_a_real_browser(tmp_path, browser):
    check_in_browser(browser, report.build_report(make_study(tmp_path)))


# What a reader sees first: the three claims, each with its table and verdict, above the fold.
FIRST_SCREEN = """() => ({
    claims: [1, 2, 3].map(n => {
        const claim = document.getElementById('claim-' + n);
        return claim && {tasks: Array.from(claim.querySelectorAll('table.claimtable tbody tr'))
                                     .map(row => row.cells[0].textContent),
                         verdict: (claim.querySelector('.verdict') || {}).textContent || null};
    }),
    findingsTop: document.getElementById('findings').getBoundingClientRect().top,
    screen: window.innerHeight,
    html: document.documentElement.outerHTML})"""


def test_the_committed_cpu_report_renders_in_a_real_browser(browser):
    """The committed CPU study's page (always in the repository, so this never skips where chromium
    is), as a reader opens it: the first screen shows the findings, claims 1 and 2 each with a
    filled table and every claim with a verdict; images load; every link resolves; three of its
    run notebooks render (all 67 would add a minute for nothing new); no machine path anywhere."""
    index = ROOT / "reports" / "cpu" / "index.html"
    check_in_browser(browser, index, notebooks=3)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(index.as_uri(), wait_until="load")
        first = page.evaluate(FIRST_SCREEN)
    finally:
        page.close()
    assert 0 <= first["findingsTop"] < first["screen"], first["findingsTop"]
    claims = first["claims"]
    assert all(claim and claim["verdict"] in {v.value for v in Verdict} for claim in claims), claims
    tasks = sorted(pd.read_csv(index.parent / "results.csv")["task"].unique())
    assert claims[0]["tasks"] == claims[1]["tasks"] == tasks, claims  # a row per task of the study
    for machine_path in MACHINE_PATHS:
        assert machine_path not in first["html"], machine_path


def test_every_method_of_the_results_table_has_a_curve():
    """The methods table (ticketlib.tickets.results.METHODS) serves experiments, stats and figures: a
    baseline the experiments can train (Wanda, standard pruning, OMP) must draw, never raise."""
    from ticketlib.study import experiments as ex
    from ticketlib.tickets.results import METHOD_NAMES

    assert set(ex.METHODS) | {"transfer"} == set(METHOD_NAMES)
    rows = study_rows()
    extra = rows[(rows["method"] == "random_pruning") & (rows["task"] == "rt-sentiment")]
    others = [
        extra.assign(method=m, value=extra["value"] - 0.01 * i)
        for i, m in enumerate(["omp", "wanda", "standard_pruning"], start=1)
    ]
    rows = pd.concat([rows, *others], ignore_index=True)
    fig = figures.curves_figure(rows)
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"Wanda", "one-shot magnitude pruning", "standard pruning"} <= labels, labels
