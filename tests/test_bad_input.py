"""Bad input gets a one-line error naming the bad field or file, a non-zero exit, and nothing
written to the run store. Every case goes through the command line in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_model
from safetensors.torch import save_file

from ticketlib.cli.main import main
from ticketlib.core.mask_io import save_mask
from ticketlib.core.masks import magnitude_prune
from ticketlib.core.prunable import prunable_state

BASE = Path(__file__).parents[1] / "params" / "quick.yaml"
IMP = ["imp", "--max-steps", "1", "--max-train-examples", "8", "--max-eval-examples", "8"]


def _mask_file(tmp: Path, kind: str) -> str:
    path = tmp / f"{kind}.safetensors"
    mask = magnitude_prune(prunable_state(tiny_model()), 0.5)
    if kind == "tiny":
        save_mask(path, mask)
    elif kind == "truncated":
        save_mask(path, mask)
        path.write_bytes(path.read_bytes()[:-64])
    elif kind == "text":
        path.write_text("a mask, honestly")
    elif kind == "twos":
        save_file({k: m.to(torch.uint8) * 2 for k, m in mask.items()}, str(path))
    return str(path)


def _profile(tmp: Path, text: str) -> str:
    path = tmp / "profile.yaml"
    path.write_text(text)
    return str(path)


def _glue(tmp: Path, content: str | None) -> str:
    folder = tmp / "glue"
    (folder / "SST-2").mkdir(parents=True, exist_ok=True)
    if content is not None:
        for split in ("train", "dev"):
            (folder / "SST-2" / f"{split}.tsv").write_text(content)
    return str(folder)


def _run_folder(tmp: Path) -> str:
    for level in (0, 1):
        _mask_file(tmp, "tiny")
        folder = tmp / "run" / "imp" / f"level_{level:02d}"
        folder.mkdir(parents=True)
        (tmp / "tiny.safetensors").rename(folder / "mask.safetensors")
    return str(tmp / "run")


def _notebook_without_parameters(tmp: Path) -> str:
    import nbformat

    folder = tmp / "nbs"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("task = 'rt-sentiment'")]  # not tagged `parameters`
    nbformat.write(nb, folder / "01_find_tickets.ipynb")
    return _profile(
        tmp,
        f"notebooks: {folder}\nexperiments:\n  find_tickets:\n    notebook: 01_find_tickets.ipynb\n"
        "    grid: {task: [rt-sentiment]}\n",
    )


# (id, argv builder, expected text in the error)
CASES = [
    ("unknown task", lambda t: IMP + ["--task", "sentiment-xyz"], "sentiment-xyz"),
    ("misspelt task", lambda t: IMP + ["--task", "sst-3"], "sst-3"),
    ("levels 0", lambda t: IMP + ["--levels", "0"], "levels"),
    ("levels negative", lambda t: IMP + ["--levels", "-2"], "levels"),
    ("levels not an int", lambda t: IMP + ["--levels", "two"], "--levels"),
    ("learning rate 0", lambda t: IMP + ["--learning-rate", "0"], "learning_rate"),
    ("learning rate negative", lambda t: IMP + ["--learning-rate=-1e-5"], "learning_rate"),
    ("learning rate not a number", lambda t: IMP + ["--learning-rate", "fast"], "--learning-rate"),
    ("max steps 0", lambda t: ["imp", "--max-steps", "0"], "max_steps"),
    ("batch size 0", lambda t: IMP + ["--batch-size", "0"], "batch_size"),
    ("epochs 0", lambda t: ["imp", "--epochs", "0"], "epochs"),
    ("rate is 100%", lambda t: IMP + ["--rate", "1.0"], "rate"),
    ("rate negative", lambda t: IMP + ["--rate", "-0.1"], "rate"),
    ("unknown schedule", lambda t: IMP + ["--schedule", "cubic"], "schedule"),
    ("unknown head policy", lambda t: IMP + ["--head-policy", "zero"], "head"),
    ("unknown source", lambda t: IMP + ["--source", "ftp"], "source"),
    ("model path missing", lambda t: IMP + ["--model", str(t / "no-such-model")], "no-such-model"),
    ("model neither path nor reachable", lambda t: IMP + ["--model", "someone/unknown-bert"], "unknown-bert"),
    (
        "GLUE folder missing TSV",
        lambda t: IMP + ["--task", "sst2", "--source", "glue_dir", "--glue-dir", _glue(t, None)],
        "train.tsv",
    ),
    (
        "GLUE TSV malformed",
        lambda t: (
            IMP
            + ["--task", "sst2", "--source", "glue_dir", "--glue-dir", _glue(t, "sentence\tlabel\nfine film\tmaybe\n")]
        ),
        "maybe",
    ),
    (
        "empty training set after subsetting",
        lambda t: ["imp", "--max-steps", "1", "--max-train-examples", "0"],
        "max_train_examples",
    ),
    ("run dir with ..", lambda t: IMP + ["--run-dir", str(t / "store" / ".." / "elsewhere")], ".."),
    ("mask for another shape", lambda t: ["check-mask", _mask_file(t, "tiny")], "does not fit"),
    ("truncated mask file", lambda t: ["check-mask", _mask_file(t, "truncated")], "truncated.safetensors"),
    ("non-safetensors mask file", lambda t: ["check-mask", _mask_file(t, "text")], "text.safetensors"),
    ("mask values other than 0/1", lambda t: ["check-mask", _mask_file(t, "twos")], "0/1"),
    ("mask file missing", lambda t: ["check-mask", str(t / "nope.safetensors")], "nope.safetensors"),
    ("profile file missing", lambda t: ["study", "--profile", str(t / "nope.yaml")], "nope.yaml"),
    (
        "profile unknown key",
        lambda t: ["study", "--profile", _profile(t, f"extends: {BASE}\n" + "defualts: {}\n")],
        "defualts",
    ),
    (
        "profile misspelt parameter",
        lambda t: ["study", "--profile", _profile(t, f"extends: {BASE}\n" + "defaults: {learning_rat: 1.0e-5}\n")],
        "learning_rat",
    ),
    (
        "profile wrong type",
        lambda t: ["study", "--profile", _profile(t, f"extends: {BASE}\n" + "defaults: {learning_rate: fast}\n")],
        "learning_rate",
    ),
    (
        "profile unknown task in grid",
        lambda t: [
            "study",
            "--profile",
            _profile(t, f"extends: {BASE}\n" + "experiments:\n  find_tickets:\n    grid: {task: [sentimen]}\n"),
        ],
        "sentimen",
    ),
    ("profile not YAML", lambda t: ["study", "--profile", _profile(t, "defaults: [unclosed\n")], "profile.yaml"),
    (
        "notebook without a parameters cell",
        lambda t: ["study", "--profile", _notebook_without_parameters(t)],
        "parameters",
    ),
    ("store path with ..", lambda t: ["study", "--store", str(t / "a" / ".." / "b")], ".."),
    ("misspelt flag", lambda t: ["imp", "--max-stesp", "8"], "did you mean --max-steps"),
    ("abbreviated flag", lambda t: ["imp", "--max-step", "8"], "did you mean --max-steps"),
    ("misspelt profile", lambda t: ["sweep", "list", "quik"], "did you mean 'quick'? profiles: base, cpu"),
    (
        "misspelt experiment",
        lambda t: ["sweep", "params", "quick", "find_ticket"],
        "did you mean 'find_tickets'? experiments: baselines, explore, find_tickets, find_tickets_retrieval",
    ),
    ("check-mask on a run folder", lambda t: ["check-mask", _run_folder(t)], "level_01 (levels: level_00, level_01)"),
    ("check-mask on a missing path", lambda t: ["check-mask", str(t / "gone")], "gone does not exist"),
    (
        "export of a missing run folder",
        lambda t: ["export", str(t / "gone"), "--level", "1", "--out", str(t / "o")],
        "gone does not exist",
    ),
    (
        "export of a mask file",
        lambda t: ["export", _mask_file(t, "tiny"), "--level", "1", "--out", str(t / "o")],
        "is a file; export takes the find_tickets run folder",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_early_in_one_line(case, tmp_path, capsys, monkeypatch):
    _, argv, expected = case
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv("TICKETLIB_RUNS", str(store))
    monkeypatch.chdir(tmp_path)
    args = argv(tmp_path)
    if args[0] == "imp" and "--run-dir" not in args:
        args += ["--run-dir", str(store / "imp")]
    if args[0] == "study":
        args += [a for a in ("--store", str(store), "--reports", str(tmp_path / "reports")) if "--store" not in args]
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse: wrong type or choice
        code = exit_.code
    err = [
        line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith(("usage:", " "))
    ]
    assert code not in (0, None), f"accepted: {args}"
    assert len(err) == 1, err
    assert expected.lower() in err[0].lower(), err[0]
    assert not any(store.rglob("*")), f"wrote to the run store: {list(store.rglob('*'))}"
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").rglob("*"))


def test_there_are_at_least_30_cases():
    assert len(CASES) >= 30
