"""Reading, executing and rendering notebooks: their `parameters` cell, their code's hash, papermill
over IPC, HTML."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ticketlib.foundations.atomic import atomic_path
from ticketlib.study.profiles import ProfileError

INJECTED_TAG = "injected-parameters"


@functools.lru_cache(maxsize=64)
def _read_notebook(path: str, mtime: float) -> dict:
    return json.loads(Path(path).read_text())


def read_notebook(path: Path) -> dict:
    return _read_notebook(str(path), path.stat().st_mtime)


def code_hash(path: Path) -> str:
    """Hash of the notebook's code cells (sources only, papermill's injected cell excluded).
    Recorded in a run's status, not part of its identity (see ticketlib.study.identity)."""
    digest = hashlib.sha256()
    for cell in read_notebook(path)["cells"]:
        if cell["cell_type"] == "code" and INJECTED_TAG not in cell.get("metadata", {}).get("tags", []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            digest.update(source.encode() + b"\0")
    return digest.hexdigest()[:16]


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The names and defaults of the notebook's `parameters` cell (papermill's own reading)."""
    from papermill import inspect_notebook

    found = inspect_notebook(str(path))
    if not found:
        raise ProfileError(f"{path}: no cell tagged 'parameters'")
    defaults = {}
    for name, spec in found.items():
        try:
            defaults[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            defaults[name] = spec["default"]
    return defaults


def execute_notebook(notebook: str | Path, output: str | Path, parameters: dict, cwd: str | Path, **kwargs):
    """papermill.execute_notebook with the kernel's sockets on IPC in a private temporary folder
    rather than TCP on localhost: no other user of the machine can listen in, and the kernel does
    not print "Kernel is running over TCP without encryption" into every run's output. The kernel
    logs only critical errors to the terminal: jupyter_client interrupts a kernel before shutting
    it down, and one caught mid-message logged "KeyboardInterrupt caught in kernel" into the
    sweep's output for a run that had finished; a cell's error is in the executed notebook."""
    import papermill
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="ticketlib-kernel-") as sockets:
        config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}})
        return papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            cwd=str(cwd),
            kernel_name="python3",
            config=config,
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            **kwargs,
        )


def notebook_to_html(notebook: Path, html: Path, hide_input: bool = True) -> None:
    """Executed notebook -> self-contained HTML (inputs hidden by default; no CDN needed)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        exclude_input=hide_input, exclude_input_prompt=hide_input, exclude_output_prompt=hide_input, embed_images=True
    )
    body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
    body = strip_remote_scripts(body)
    with atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")


def strip_remote_scripts(html: str) -> str:
    """Drop <script src="http..."> and remote stylesheets (require.js, MathJax from CDNs):
    the page's own inlined CSS renders it, offline."""
    html = re.sub(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", "", html)
    return re.sub(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", "", html)
