"""The command line points the right way: a did-you-mean for a misspelt flag, profile or
experiment (tests/test_bad_input.py has one case per message), help for every positional,
the commands listed once, no traceback on a closed pipe, check-mask on a level folder with the
run's pooling, shipped profiles extended by name, and the run folder said with its state."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ticketlib.cli.main import build_parser, main
from ticketlib.study.profiles import load_profile

ROOT = Path(__file__).resolve().parent.parent


def parsers(parser: argparse.ArgumentParser, name: str = "ticketlib"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from parsers(child, f"{name} {sub}")


def test_every_positional_has_help():
    missing = [
        f"{name}: {a.dest}"
        for name, parser in parsers(build_parser())
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction) and not a.help
    ]
    assert missing == []


def test_top_level_help_lists_each_command_once(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    first_words = [line.split()[0] for line in text.splitlines() if line.strip()]
    for command in ("fetch-assets", "imp", "check-mask", "export", "study", "sweep"):
        assert first_words.count(command) == 1, (command, text)
    assert "{" not in text  # no {fetch-assets,imp,...} line besides the list


def test_no_traceback_when_the_reader_closes_the_pipe(tmp_path):
    """`ticketlib sweep list cpu | head -2`: head exits; the command stops without a traceback."""
    env = {**os.environ, "TICKETLIB_RUNS": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ticketlib", "sweep", "list", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    process.stdout.close()  # before it writes anything: every write meets a closed pipe
    err = process.stderr.read().decode()
    assert process.wait() == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_extends_finds_shipped_profiles_by_name_from_anywhere(tmp_path):
    for parent in ("quick.yaml", "quick"):
        (tmp_path / "mine.yaml").write_text(f"extends: {parent}\nname: mine\ndefaults: {{max_steps: 3}}\n")
        profile = load_profile(tmp_path / "mine.yaml")
        quick = load_profile("quick")
        assert profile.name == "mine" and profile.defaults == {**quick.defaults, "max_steps": 3}
        assert profile.experiments.keys() == quick.experiments.keys()


def test_check_mask_takes_a_level_folder_and_the_pooling(tmp_path, capsys):
    from ticketlib.core.mask_io import save_mask
    from ticketlib.core.masks import magnitude_prune
    from ticketlib.core.prunable import prunable_state
    from ticketlib.tasks.models import load_model

    model, _, _ = load_model("offline-minilm", "rt-sentiment", num_layers=2, pooling="mean")
    level = tmp_path / "run" / "imp" / "level_01"
    save_mask(level / "mask.safetensors", magnitude_prune(prunable_state(model), 0.3), task="rt-sentiment", level=1)
    assert main(["check-mask", str(level), "--num-layers", "2"]) == 0  # the default pooling: the model's, mean
    assert main(["check-mask", str(level), "--num-layers", "2", "--pooling", "cls"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith(f"{level / 'mask.safetensors'}: fits offline-minilm") for line in out)


@pytest.mark.slow  # three tiny IMP runs on a 2-layer slice of the offline model (about 30 s)
def test_imp_says_where_its_run_is_and_whether_it_is_new_resumed_or_reused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TICKETLIB_RUNS", str(tmp_path / "store"))
    argv = [
        "imp",
        "--num-layers",
        "2",
        "--max-train-examples",
        "32",
        "--max-eval-examples",
        "32",
        "--max-steps",
        "2",
        "--levels",
        "1",
        "--threads",
        "1",
    ]

    def run_folder_line() -> tuple[Path, str]:
        assert main(argv) == 0
        out = capsys.readouterr().out
        line = next(line for line in out.splitlines() if line.startswith("run folder: "))
        assert "no signal" in out  # the table ends with the task's no-signal score
        folder, state = line[len("run folder: ") :].rsplit(" (", 1)
        assert folder.startswith("<store>/")  # within the store: no machine path in a notebook's output
        return tmp_path / "store" / folder[len("<store>/") :], state

    folder, state = run_folder_line()
    assert state == "new)" and folder.parent == tmp_path / "store" / "find_tickets" and (folder / "rows.csv").is_file()
    assert run_folder_line() == (folder, "reused: finished before, nothing to compute)")
    (folder / "rows.csv").unlink()
    (folder / "imp" / "level_01" / "level.json").unlink()  # as if killed while training level 1
    assert run_folder_line() == (folder, "resumed: its finished levels and cells are kept)")
