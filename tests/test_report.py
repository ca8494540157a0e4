"""Reports: the paper's summaries from tidy rows, index.html, and a real headless browser
(Debian's chromium, driven over the DevTools protocol) that opens the report offline and
checks that it renders, that its figures load and that its links resolve."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from browser import Browser, chromium
from ticketlib import report
from ticketlib.sweep import notebook_to_html

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parent.parent


def rows_for(task="rt-sentiment", metric="accuracy", full=(0.80, 0.82), imp=None, methods=None) -> pd.DataFrame:
    """Tidy rows: the full model over seeds, IMP per level, baselines at one level."""
    imp = imp or {1: (0.81, 0.81), 2: (0.80, 0.81), 3: (0.76, 0.77)}
    rows = []

    def add(experiment, method, level, sparsity, seed, value, source=task):
        rows.append({"experiment": experiment, "method": method, "task": task, "source_task": source,
                     "model": "m", "seed": seed, "level": level, "sparsity": sparsity, "rewind_step": 0,
                     "metric": metric, "value": value, "steps": 10, "train_seconds": 1.0, "run_id": "r"})

    for seed, value in enumerate(full):
        add("baselines", "full", 0, 0.0, seed, value)
    for level, values in imp.items():
        for seed, value in enumerate(values):
            add("baselines", "imp", level, level / 10, seed, value)
    for method, values in (methods or {"random_pruning": (0.70, 0.72)}).items():
        for seed, value in enumerate(values):
            add("baselines", method, 2, 0.2, seed, value)
    add("find_tickets", "imp", 0, 0.0, 0, 0.81)
    add("find_tickets", "imp", 1, 0.1, 0, 0.80)
    add("transfer", "transfer", 2, 0.2, 0, 0.78, source="wiki-mlm")
    add("transfer", "transfer", 2, 0.2, 1, 0.76, source="wiki-mlm")
    return pd.DataFrame(rows)


def test_matching_table_follows_the_papers_definitions():
    # full: mean 0.81, std 0.01414; level 1 mean 0.81 (>= full), level 2 0.805 (within 1 std),
    # level 3 0.765 (neither)
    table = report.matching_table(rows_for())
    row = table.set_index("task").loc["rt-sentiment"]
    assert row["highest matching (within 1 std)"] == "20%"
    assert row["highest matching (>= full)"] == "10%"
    assert row["full seeds"] == 2 and row["seeds per sparsity"] == "2, 2, 2"


def test_matching_table_falls_back_to_the_search_run_and_says_none():
    rows = rows_for(full=(0.80, 0.80), imp={1: (0.5, 0.5)})
    rows = rows[rows["method"] != "full"]  # no multi-seed full model: IMP level 0 (one seed) is the reference
    row = report.matching_table(rows).set_index("task").loc["rt-sentiment"]
    assert row["full seeds"] == 1 and row["highest matching (within 1 std)"] == "none"


def test_transfer_table_has_sources_as_rows_and_the_own_ticket_on_the_diagonal():
    table = report.transfer_table(rows_for())
    assert table.loc["wiki-mlm", "rt-sentiment"] == pytest.approx(0.77)
    assert "rt-sentiment" in table.index  # the task's own IMP ticket


def test_figures_draw_from_rows():
    rows = rows_for()
    for fig in (report.curves_figure(rows), report.transfer_figure(rows), report.transfer_figure(rows.iloc[:0])):
        assert fig.axes
    assert "seed(s)" in report.budget_note(rows, "plain words")
    assert report.budget_note(rows.iloc[:0]).startswith("**No results")


# --- index.html -----------------------------------------------------------------------------

def make_report(tmp_path: Path) -> Path:
    """A report as the sweep leaves it: runs.json, two run folders (one failed), a summary run."""
    import matplotlib.pyplot as plt

    reports, store = tmp_path / "reports", tmp_path / "store"
    ok, failed, summary = store / "find_tickets" / "a-1", store / "find_tickets" / "b-2.partial", store / "summary" / "3"
    for folder in (ok, failed, summary):
        folder.mkdir(parents=True)
    notebook_to_html(ROOT / "notebooks" / "01_find_tickets.ipynb", ok / "notebook.html")
    (failed / "notebook.html").write_text("<html><body><p>RuntimeError: boom</p></body></html>")
    rows = rows_for()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    report.save_summary(summary, {"table_2_matching": report.matching_table(rows)},
                        {"curves": report.curves_figure(rows), "line": fig}, note="What it shows.\n\nWhat it cannot.")
    runs = [{"run_id": "1", "experiment": "find_tickets", "name": "find_tickets[task=a]", "label": "task=a",
             "status": "ok", "skipped": True, "duration_s": 12.5, "error": None, "params": {"task": "a"},
             "needs": {}, "folder": str(ok)},
            {"run_id": "2", "experiment": "find_tickets", "name": "find_tickets[task=b]", "label": "task=b",
             "status": "failed", "skipped": False, "duration_s": 3.0, "error": "RuntimeError: boom",
             "params": {"task": "b"}, "needs": {}, "folder": str(failed)},
            {"run_id": "3", "experiment": "summary", "name": "summary", "label": "", "status": "ok",
             "skipped": False, "duration_s": 5.0, "error": None, "params": {}, "needs": {}, "folder": str(summary)}]
    reports.mkdir()
    (reports / "runs.json").write_text(json.dumps({"profile": "test", "description": "a test", "store": str(store),
                                                   "runs": runs}))
    rows.to_csv(reports / "results.csv", index=False)
    return report.build_report(reports)


def test_index_lists_runs_and_shows_the_summary_inline(tmp_path):
    index = make_report(tmp_path)
    text = index.read_text()
    for expected in ("find_tickets", "task=a", "RuntimeError: boom", "12.5 s", 'class="failed"', "done before",
                     "summary/curves.png", "table 2 matching", "What it cannot.",
                     "results.csv"):
        assert expected in text, expected
    assert "http://" not in text and "https://" not in text  # nothing from the network
    run_pages = list((index.parent / "runs").glob("*.html"))
    assert len(run_pages) == 2
    for page in run_pages:
        assert '<script src="http' not in page.read_text()


# --- a real browser -------------------------------------------------------------------------

@pytest.fixture
def browser(tmp_path):
    chromium()
    instance = Browser(tmp_path / "chromium-profile")
    yield instance
    instance.close()


def check_in_browser(browser: Browser, index: Path) -> None:
    page = browser.visit(index.resolve().as_uri())
    assert page["loaded"] and page["text"] > 200, page
    assert any("Summary" in h for h in page["headings"]) and page["tables"] >= 2
    assert page["images"] and all(image["ok"] for image in page["images"]), page["images"]
    remote = [u for u in page["requests"] if u.startswith(("http://", "https://"))]
    assert not remote, f"index.html asked the network for {remote}"
    for link in page["links"]:
        assert link.startswith("file://"), link
        target = Path(urllib.request.url2pathname(link.removeprefix("file://").split("#")[0]))
        assert target.is_file(), f"broken link {link}"
        if target.suffix == ".html":  # the run's executed notebook renders offline too
            run = browser.visit(link)
            assert run["loaded"] and run["text"] > 0, link
            assert all(image["ok"] for image in run["images"]), link


def test_report_renders_in_a_real_browser(tmp_path, browser):
    check_in_browser(browser, make_report(tmp_path))


def test_the_studys_report_renders_in_a_real_browser(browser):
    """reports/index.html of this checkout, when a study has been run here."""
    index = ROOT / "reports" / "index.html"
    if not index.is_file():
        pytest.skip("no reports/index.html yet (run `bash scripts/study.sh`)")
    check_in_browser(browser, index)
