"""A real JupyterLab: the explorer notebook opened in headless chromium and run through the UI.

`jupyter lab` runs headless on 127.0.0.1 with a token, in a temporary folder holding a copy of
notebooks/06_explore.ipynb and a small finished study (tests/study_fixture.py: real mask files
of tiny random BERTs, no training). The copy's parameters cell is edited to read that study, as
a user would. Chromium opens the notebook; the test dispatches JupyterLab's own
"notebook:run-all-cells" command (the Run > Run All Cells menu), waits for the kernel, checks
that every code cell ran without an error output and that the widgets rendered, then picks
another level in the explorer's dropdown and sees the view redraw.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browser import open_browser
from study_fixture import SPARSITY, make_study

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

PANEL = "Array.from(jupyterapp.shell.widgets('main')).find(w => w.content && w.sessionContext)"
CELLS = "panel.content.widgets.filter(c => c.model.type === 'code')"
STATE = f"""(() => {{
    const panel = {PANEL};
    if (!panel || !panel.content || !panel.sessionContext || !panel.sessionContext.session) return null;
    const kernel = panel.sessionContext.session.kernel;
    const cells = {CELLS};
    const outputs = cells.flatMap(c => c.model.outputs.toJSON());
    const text = o => [].concat(o.text || [], (o.data && o.data['text/plain']) || [],
                                (o.data && o.data['text/markdown']) || []).join('');
    return {{kernel: kernel ? kernel.status : null,
             counts: cells.map(c => c.model.executionCount),
             errors: outputs.filter(o => o.output_type === 'error'),
             text: outputs.map(text).join('\\n')}};
}})()"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def edit_parameter(path: Path, name: str, value) -> None:
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    index = next(i for i, line in enumerate(lines) if line.split("=")[0].strip() == name)
    lines[index] = f"{name} = {value!r}"
    cell.source = "\n".join(lines)
    for cell in nb.cells:  # a fresh notebook: the committed smoke outputs would pass for results
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, str(path))


@pytest.fixture
def lab(tmp_path):
    """(url of the explorer notebook in JupyterLab, token); the server stops after the test."""
    work = tmp_path / "work"
    work.mkdir()
    _, reports = make_study(tmp_path / "study")
    notebook = work / "06_explore.ipynb"
    shutil.copyfile(ROOT / "notebooks" / "06_explore.ipynb", notebook)
    edit_parameter(notebook, "runs", str(reports))
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)  # every cell in the DOM (JupyterLab 4 draws only the visible ones by default)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
        "TICKETLIB_RUNS": str(tmp_path / "store"),
        "TQDM_DISABLE": "1",
    }
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240  # a hang guard: a slow CI machine starts JupyterLab late
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f"jupyter lab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield f"{base}/lab/tree/06_explore.ipynb?token={token}", tmp_path
    request = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        server.wait(30)
    except (OSError, subprocess.TimeoutExpired):
        server.kill()
        server.wait(10)
    log.close()


@pytest.mark.essential
def test_explorer_runs_all_cells_in_jupyterlab(lab):
    url, _ = lab
    started = time.time()
    with open_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def wait_for(expression: str, timeout_s: float):
            """The expression's first truthy value, polled every 250 ms."""
            return page.wait_for_function(expression, timeout=timeout_s * 1000, polling=250).json_value()

        page.goto(url, wait_until="load", timeout=120_000)
        wait_for(f"window.jupyterapp && jupyterapp.shell && ({PANEL}) && ({PANEL}).content.widgets.length > 0", 120)
        wait_for(
            f"(() => {{ const s = ({PANEL}).sessionContext.session; "
            "return s && s.kernel && s.kernel.status === 'idle'; })()",
            120,
        )
        page.evaluate(f"jupyterapp.shell.activateById(({PANEL}).id) || true")  # the command acts on the current one
        wait_for(f"jupyterapp.shell.currentWidget === ({PANEL})", 30)
        page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells').then(() => true)")
        # done: every cell ran, or one failed (run-all stops there; its error is the failure message)
        state = wait_for(
            f"(() => {{ const s = {STATE}; return s && s.kernel === 'idle' && "
            "(s.errors.length || s.counts.every(n => n !== null)) ? s : null; })()",
            240,
        )
        assert not state["errors"], state["errors"]
        assert "selected: rt-sentiment" in state["text"] and "the last study (profile 'fake'" in state["text"]
        # the widgets were drawn by the frontend (not the static fallback) ...
        wait_for("document.querySelectorAll('.jp-Notebook .widget-dropdown select').length >= 3", 60)
        assert "static view" not in state["text"]
        assert "Sparsity per layer" in page.locator(".widget-output").first.inner_text()
        # ... and answer: pick level 1 in the level dropdown, the output area redraws
        dropdowns = page.locator(".jp-Notebook .widget-dropdown").filter(has_text=re.compile(r"^\s*level"))
        dropdowns.first.locator("select").select_option(label="1")  # the explorer's (the first) level dropdown
        # the view redraws piece by piece (tables, heatmap, overlap last): wait for the last piece
        last = f"level 1: sparsity {SPARSITY[1]:.2%}"
        redrawn = wait_for(
            "(() => { const t = document.querySelector('.widget-output').innerText; "
            f"return t.includes('{last}') && t.includes('Overlap') ? t : null; }})()",
            60,
        )
        assert "Sparsity per layer" in redrawn and "Fully pruned matrices" in redrawn
    print(f"JupyterLab: opened, ran all cells and redrew the explorer in {time.time() - started:.1f} s")
