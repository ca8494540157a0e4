"""The budget curve (ticketlib.study.curve) over two invented studies whose gaps are set exactly: at
48 x 32 the ticket matches at 25% only, at 192 x 8 at 25% and 50%; OMP trails IMP by OMP_GAP."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ticketlib.study.curve import PAPER_STEPS, curve_table, highest_table, read_budget, write_curve
from ticketlib.study.rules import Match
from ticketlib.tickets.results import NO_SIGNAL, write_table

SEEDS = range(6)
FULL, SEED_STEP, NO_SIGNAL_SCORE = 0.80, 0.001, 0.5
NOISE = [0.002, -0.002, 0.001, -0.001, 0.0, 0.0]  # mean 0: each gap's mean is exactly its offset
SPARSITY = {1: 0.25, 2: 0.5, 3: 0.75}
OMP_GAP = 0.02
# steps x batch -> IMP - full at each level (a matching offset is within the 0.01 margin)
BUDGETS = {(48, 32): {1: -0.001, 2: -0.03, 3: -0.10}, (192, 8): {1: -0.001, 2: -0.004, 3: -0.05}}


def rows_of(steps: int, offsets: dict[int, float]) -> pd.DataFrame:
    def row(experiment, method, seed, level, value):
        return {
            "experiment": experiment,
            "method": method,
            "task": "rt-sentiment",
            "source_task": "rt-sentiment",
            "model": "offline-minilm",
            "seed": seed,
            "level": level,
            "sparsity": SPARSITY.get(level, 0.0) if level is not None else None,
            "rewind_step": 0,
            "metric": "accuracy",
            "value": value,
            "steps": steps,
            "train_seconds": 0.0 if method == NO_SIGNAL else 30.0,
            "run_id": f"r{seed}",
        }

    out = [row("find_tickets", NO_SIGNAL, None, None, NO_SIGNAL_SCORE)]
    for seed in SEEDS:
        full = FULL + SEED_STEP * seed
        out.append(row("find_tickets", "imp", seed, 0, full))
        for level, offset in offsets.items():
            imp = full + offset + NOISE[seed]
            out.append(row("find_tickets", "imp", seed, level, imp))
            out.append(row("baselines", "omp", seed, level, imp - OMP_GAP))
    return pd.DataFrame(out)


@pytest.fixture
def studies(tmp_path):
    folders = []
    for (steps, batch), offsets in BUDGETS.items():
        profile = tmp_path / f"curve-{steps}x{batch}.yaml"
        profile.write_text(
            f"extends: curve\nname: curve-{steps}x{batch}\ndefaults: {{max_steps: {steps}, batch_size: {batch}}}\n"
        )
        folder = tmp_path / f"reports-{steps}x{batch}"
        write_table(rows_of(steps, offsets), folder / "results.csv")
        (folder / "runs.json").write_text(
            json.dumps({"profile": str(profile), "runs": [], "rules": {"alpha": 0.05, "margins": {"accuracy": 0.01}}})
        )
        folders.append(folder)
    return folders


def test_each_budget_is_judged_by_its_rules_with_exact_gaps(studies):
    budgets = [read_budget(folder) for folder in studies]
    assert [(b.steps("rt-sentiment"), b.batch_size) for b in budgets] == list(BUDGETS)
    curve = curve_table(budgets)
    assert len(curve) == sum(len(offsets) for offsets in BUDGETS.values())
    for (steps, batch), offsets in BUDGETS.items():
        for level, offset in offsets.items():
            cell = curve[(curve["steps"] == steps) & (curve["level"] == level)].iloc[0]
            assert cell["budget"] == f"{steps} x {batch}" and cell["pairs"] == len(SEEDS)
            assert cell["sparsity"] == SPARSITY[level]
            assert cell["IMP - full"] == pytest.approx(offset, abs=1e-12)
            assert cell["CI low"] < offset < cell["CI high"]
            assert cell["IMP - OMP"] == pytest.approx(OMP_GAP, abs=1e-12)
            expected = Match.MATCHING if offset > -0.01 else Match.NOT_MATCHING
            assert cell["matching (equivalence)"] == expected.value, (steps, level)


def test_highest_matching_sparsity_by_each_criterion(studies):
    highest = highest_table([read_budget(folder) for folder in studies])
    assert highest["steps"].tolist() == [48, 192]
    assert highest["highest matching (equivalence)"].tolist() == [0.25, 0.5]
    full_std = float(np.std([FULL + SEED_STEP * s for s in SEEDS], ddof=1))
    # within 1 std: a mean at most full_std below the full model's (0.001 < 0.0019 < 0.004)
    assert 0.001 < full_std < 0.004
    assert highest["highest matching (within 1 std)"].tolist() == [0.25, 0.25]
    assert highest["highest matching (>= full)"].isna().all()  # every mean is below the full model's
    assert highest["learned"].tolist() == ["learned", "learned"]
    assert highest["full seeds"].tolist() == [len(SEEDS)] * 2
    # train minutes: one 30 s fine-tuning per (seed, method, level) row
    assert highest["train minutes"].tolist() == [round(len(SEEDS) * 7 * 30 / 60, 1)] * 2


def test_write_curve_and_its_command(studies, tmp_path, capsys):
    from ticketlib.cli.main import main

    out = tmp_path / "curve"
    assert main(["curve", *map(str, studies), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| 48 x 32 |" in printed and "| 192 x 8 |" in printed
    for name in ("curve.csv", "highest.csv", "curve.png", "curve.svg"):
        assert (out / name).stat().st_size > 0, name
    assert pd.read_csv(out / "highest.csv")["highest matching (equivalence)"].tolist() == [0.25, 0.5]
    assert PAPER_STEPS["SST-2"] == 3 * 2105  # 3 epochs of 67,349 sentences in batches of 32
    paths = write_curve(studies, out)  # again: the same tables
    assert pd.read_csv(paths["curve"]).equals(pd.read_csv(out / "curve.csv"))


def test_a_folder_that_is_not_a_study_is_named(tmp_path, capsys):
    from ticketlib.cli.main import main

    assert main(["curve", str(tmp_path), "--out", str(tmp_path / "out")]) != 0
    assert "not a study's reports folder" in capsys.readouterr().err
