"""No artifact is ever unpickled: ticketlib imports no pickle and calls torch.load only with
weights_only=True (safetensors, JSON and CSV/Parquet are the artifact formats). Artifacts are
written with the umask's mode, like any other file."""

import ast
import os
import stat
from pathlib import Path

import pytest

SOURCES = sorted((Path(__file__).parents[1] / "ticketlib").rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}


def test_no_pickle_anywhere_in_ticketlib():
    assert SOURCES
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            assert not names & UNSAFE_MODULES, f"{path}:{node.lineno} imports {names & UNSAFE_MODULES}"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("read_pickle", "to_pickle"):
                raise AssertionError(f"{path}:{node.lineno} uses pandas pickling")


def test_torch_load_only_with_weights_only():
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "load"
                and getattr(node.func.value, "id", None) == "torch"
            ):
                flags = {k.arg: k.value for k in node.keywords}
                assert isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True, (
                    f"{path}:{node.lineno}: torch.load without weights_only=True"
                )


# --- file modes: artifacts follow the umask ---------------------------------------------------


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def modes_below(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


def test_every_artifact_writer_follows_the_umask(tmp_path, umask):
    """Masks, params.json, status.json, rows.csv, results.csv, a ticket folder's mask and card,
    and the report (index.html, its figures and tables) get 0666 less the umask (0644 under
    022), like any file a program writes: on a shared run store colleagues can read them."""
    import torch
    from report_fixtures import make_study

    from ticketlib.core.mask_io import save_mask
    from ticketlib.foundations.atomic import write_bytes, write_json
    from ticketlib.study.report import build_report
    from ticketlib.sweep.status import RunStatus
    from ticketlib.tickets.results import write_rows, write_table
    from ticketlib.tickets.ticket_folder import facts, save_folder

    run = tmp_path / "store" / "find_tickets" / "run"
    mask = {"encoder.layer.0.attention.self.query.weight": torch.rand(4, 4) > 0.5}
    save_mask(run / "imp" / "level_01" / "mask.safetensors", mask, task="rt-sentiment", level=1)
    write_json(run / "params.json", {"run_id": "x"})
    write_bytes(run / "blob.bin", b"\0\1")
    RunStatus(run_id="x", experiment="find_tickets", name="n", params={}, status="ok").write(run)
    rows = write_rows(
        run,
        [
            {
                "experiment": "find_tickets",
                "method": "imp",
                "task": "rt-sentiment",
                "seed": 0,
                "level": 1,
                "sparsity": 0.2,
                "metric": "accuracy",
                "value": 0.5,
            }
        ],
    )
    write_table(rows, tmp_path / "results.csv")
    meta = {"task": "rt-sentiment", "level": "1"}
    save_folder(tmp_path / "export", mask, meta, None, facts(mask, meta, 1))
    build_report(make_study(tmp_path / "study"))

    modes = modes_below(tmp_path)
    for name in (
        "store/find_tickets/run/imp/level_01/mask.safetensors",
        "store/find_tickets/run/params.json",
        "store/find_tickets/run/status.json",
        "store/find_tickets/run/rows.csv",
        "results.csv",
        "export/mask.safetensors",
        "export/" + "README.md",
        "study/reports/index.html",
    ):  # the card
        assert name in modes, name
    expected = 0o666 & ~umask
    assert {name: oct(mode) for name, mode in modes.items() if mode != expected} == {}
    assert not [p for p in tmp_path.rglob("*.tmp")], "temporary files left behind"


def test_follow_umask_fixes_what_transformers_writes_owner_only(tmp_path, umask):
    """transformers' save_pretrained writes model.safetensors through safetensors, which makes it
    owner-only (0600) whatever the umask; store.follow_umask gives the folder the umask's modes."""
    from conftest import tiny_model

    from ticketlib.foundations.atomic import follow_umask

    tiny_model().save_pretrained(str(tmp_path / "checkpoint"))
    assert modes_below(tmp_path)["checkpoint/model.safetensors"] == 0o600  # what follow_umask is for
    follow_umask(tmp_path / "checkpoint")
    assert set(modes_below(tmp_path).values()) == {0o666 & ~umask}
