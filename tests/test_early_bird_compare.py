"""Early-bird tickets against IMP (ticketlib.study.early_bird_compare, `ticketlib early-bird`): the
shipped profile's runs pair with curve-192x8's by identity; on hand-made run folders at those
very folders (level.json rows and final masks set exactly), the step totals, the ratio, the
paired gap with its interval and the declared rule's verdict, and the masks' overlap."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from ticketlib.cli.early_bird import planned_runs
from ticketlib.cli.main import main
from ticketlib.core.mask_io import save_mask
from ticketlib.foundations.atomic import write_json
from ticketlib.foundations.paths import LEVEL_FILE, MASK_FILE, level_dir
from ticketlib.study.early_bird_compare import (
    Planned,
    pair_runs,
    plain_identity,
    seed_table,
    target,
    task_table,
    write_comparison,
)
from ticketlib.study.identity import run_folder, run_identity
from ticketlib.study.rules import Match, Rules
from ticketlib.tasks.params import Recipe

T_95_2 = 2.9199855803537242  # Student t, 2 degrees of freedom, one-sided 5%: the 90% interval of 3 pairs
IMP_LEVEL, SECONDS_PER_STEP = 192, 0.25
# task -> seed -> early-bird steps of levels 0-3 (the last always trains its full budget)
EB_STEPS = {
    "rt-sentiment": {s: [48, 64, 80, 192] for s in range(3)},
    "sst2": {0: [96, 96, 96, 192], 1: [96, 96, 96, 192], 2: [96, 96, 192, 192]},
}
GAPS = {"rt-sentiment": [0.000, 0.001, 0.002], "sst2": [-0.041, -0.040, -0.039]}  # final EB - IMP per seed
LARGEST = {"rt-sentiment": 0.0009, "sst2": 0.002}
PATIENCE = 5


def imp_mask() -> dict:
    return {"w": torch.arange(20).reshape(4, 5) >= 15}  # weights 0-14 pruned: 75%


def early_mask() -> dict:
    kept = torch.ones(20, dtype=torch.bool)
    kept[list(range(14)) + [15]] = False  # 0-13 and 15 pruned: 14 shared of 16 pruned in either
    return {"w": kept.reshape(4, 5)}


def write_run(folder, steps: list[int], final: float, mask: dict, early: bool, largest: float = 0.0) -> None:
    """A finished IMP run folder: a level.json per level (as run_imp writes them) and the final mask."""
    for level, trained in enumerate(steps):
        row = {
            "level": level,
            "sparsity": 0.25 * level,
            "steps": trained,
            "train_seconds": trained * SECONDS_PER_STEP,
            "metrics": {"accuracy": final} if level == len(steps) - 1 else {},
        }
        if early:
            draws = trained // 8 - 1 if level < len(steps) - 1 else 0
            distances = [largest] + [largest / 2] * (draws - 1) if draws else []
            row.update(
                budget_steps=IMP_LEVEL,
                stopped_early=level < len(steps) - 1 and trained < IMP_LEVEL,
                mask_distances=distances,
            )
        write_json(level_dir(folder / "imp", level) / LEVEL_FILE, row)
    save_mask(level_dir(folder / "imp", len(steps) - 1) / MASK_FILE, mask, level=len(steps) - 1)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """The shipped profiles' pairs in a fresh store, every run written by hand."""
    store = tmp_path_factory.mktemp("store")
    found = pair_runs(planned_runs("early-bird-192x8", store), planned_runs("curve-192x8", store))
    for pair in found:
        imp_value = 0.80 + 0.01 * pair.seed
        write_run(pair.imp.folder, [IMP_LEVEL] * 4, imp_value, imp_mask(), early=False)
        write_run(
            pair.early.folder,
            EB_STEPS[pair.task][pair.seed],
            imp_value + GAPS[pair.task][pair.seed],
            early_mask(),
            early=True,
            largest=LARGEST[pair.task],
        )
    return store, found


def test_the_profile_pairs_six_early_bird_runs_with_curve_192x8s_imp_runs(pairs):
    store, found = pairs
    assert [(p.task, p.seed) for p in found] == [(t, s) for t in ("rt-sentiment", "sst2") for s in range(3)]
    imp_ids = {run.run_id for run in planned_runs("curve-192x8", store)}
    for pair in found:
        early, imp = pair.early.recipe, pair.imp.recipe
        assert pair.imp.run_id in imp_ids and pair.early.run_id not in imp_ids
        assert (
            early["early_bird"],
            early["early_bird_every"],
            early["early_bird_epsilon"],
            early["early_bird_patience"],
        ) == (True, 8, 0.001, PATIENCE)
        assert {k: v for k, v in early.items() if not k.startswith("early_bird")} == imp
        assert (imp["max_steps"], imp["batch_size"], imp["levels"]) == (IMP_LEVEL, 8, 3)
        assert pair.early.folder.parent == pair.imp.folder.parent == store / "find_tickets"


def identity_of(**changes) -> dict:
    return run_identity("find_tickets", Recipe(**changes).as_dict())


def test_pairing_is_by_identity_and_names_what_differs(tmp_path):
    early = [Planned(identity_of(seed=s, early_bird=True, early_bird_every=4), tmp_path / f"e{s}") for s in (0, 1)]
    imp = Planned(identity_of(seed=0), tmp_path / "i0")
    other = Planned(identity_of(seed=1, learning_rate=1e-4), tmp_path / "i1")
    assert plain_identity(early[0].identity) == imp.identity
    with pytest.raises(ValueError, match=r"rt-sentiment seed 1 \(its nearest differs in learning_rate\)"):
        pair_runs(early, [imp, other])
    with pytest.raises(ValueError, match=r"seed 1 \(none of this task and seed\)"):
        pair_runs(early, [imp])
    with pytest.raises(ValueError, match="early_bird is off"):
        pair_runs([imp], [imp])
    (pair,) = pair_runs(early[:1], [other, imp])
    assert (pair.task, pair.seed, pair.early, pair.imp) == ("rt-sentiment", 0, early[0], imp)


def test_steps_gap_verdict_and_overlap_exactly(pairs):
    seeds, unfinished = seed_table(pairs[1])
    assert unfinished == [] and len(seeds) == 6
    rt = seeds[seeds["task"] == "rt-sentiment"].iloc[0]
    assert (rt["EB steps"], rt["IMP steps"], rt["steps ratio"]) == (384, 768, 2.0)
    assert (rt["EB steps per level"], rt["stopped early"], rt["at first check"]) == ("48/64/80/192", 3, 1)
    assert (rt["level"], rt["sparsity"], rt["largest distance"]) == (3, 0.75, 0.0009)
    assert rt["Jaccard"] == 14 / 16 and rt["Hamming"] == 2 / 20
    assert (rt["EB train s"], rt["IMP train s"]) == (96.0, 192.0)
    sst2 = seeds[(seeds["task"] == "sst2") & (seeds["seed"] == 2)].iloc[0]
    assert (sst2["EB steps"], sst2["stopped early"], sst2["at first check"]) == (576, 2, 0)

    tasks = task_table(seeds, Rules()).set_index("task")
    rt, sst2 = tasks.loc["rt-sentiment"], tasks.loc["sst2"]
    assert (rt["EB steps"], rt["IMP steps"], rt["steps ratio"]) == (384, 768, 2.0)
    assert (sst2["EB steps"], sst2["steps ratio"]) == (512, 2304 / 1536)
    assert (rt["stopped early"], rt["at first check"], sst2["stopped early"]) == ("9 of 9", "3 of 9", "8 of 9")
    half = T_95_2 * 0.001 / math.sqrt(3)  # both tasks' paired gaps have a std of 0.001
    for task, row in (("rt-sentiment", rt), ("sst2", sst2)):
        mean = sum(GAPS[task]) / 3
        assert row["EB - IMP"] == pytest.approx(mean, abs=1e-12)
        assert (row["CI low"], row["CI high"]) == pytest.approx((mean - half, mean + half), abs=1e-9)
    assert (rt["matches IMP"], sst2["matches IMP"]) == (Match.MATCHING.value, Match.NOT_MATCHING.value)
    assert (rt["target"], sst2["target"]) == ("met", "not met: the final ticket does not match IMP's")
    assert (rt["Jaccard min"], rt["Hamming max"], rt["margin"], rt["train s ratio"]) == (0.875, 0.1, 0.01, 2.0)


def test_a_wider_margin_turns_the_verdict(pairs):
    seeds, _ = seed_table(pairs[1])
    tasks = task_table(seeds, Rules.from_mapping({"margins": {"accuracy": 0.05}})).set_index("task")
    assert tasks.loc["sst2", "matches IMP"] == Match.MATCHING.value
    assert tasks.loc["sst2", "target"] == "not met: 1.50x fewer steps < 2x"


def test_the_target_needs_both_the_steps_and_the_match():
    assert target(2.29, Match.MATCHING.value) == "met"
    assert target(2.0, Match.MATCHING.value, target_ratio=2.5) == "not met: 2.00x fewer steps < 2.5x"
    assert target(3.0, Match.UNDECIDED.value).startswith("undecided")
    assert target(1.2, Match.UNDECIDED.value).endswith("1.20x fewer steps < 2x")


def test_an_unfinished_pair_is_left_out_and_a_sparsity_mismatch_refused(pairs, tmp_path):
    store, found = pairs
    partial = found[0]
    level = level_dir(partial.early.folder / "imp", 2) / LEVEL_FILE
    saved = level.read_text()
    level.unlink()
    try:
        seeds, unfinished = seed_table(found)
        assert unfinished == [partial] and len(seeds) == 5
        paths, left = write_comparison(found, Rules(), tmp_path / "out")
        assert left == [partial] and "Not finished, left out: rt-sentiment seed 0." in paths["markdown"].read_text()
        assert pd.read_csv(paths["tasks"]).set_index("task").loc["rt-sentiment", "pairs"] == 2
        with pytest.raises(FileNotFoundError, match="none of the 1 early-bird/IMP pairs is finished"):
            write_comparison([partial], Rules(), tmp_path / "none")
    finally:
        level.write_text(saved)
    other = found[1]
    thin = {"w": torch.arange(20).reshape(4, 5) >= 14}  # 70%
    save_mask(level_dir(other.early.folder / "imp", 3) / MASK_FILE, thin, level=3)
    try:
        with pytest.raises(ValueError, match="not at the same sparsity"):
            seed_table([other])
    finally:
        save_mask(level_dir(other.early.folder / "imp", 3) / MASK_FILE, early_mask(), level=3)


def test_the_command_from_a_store_or_a_reports_folder(pairs, tmp_path, capsys):
    store, _ = pairs
    reports = tmp_path / "reports"
    write_json(reports / "runs.json", {"profile": "early-bird-192x8", "store": str(store), "runs": []})
    for given, out in ((store, tmp_path / "a"), (reports, tmp_path / "b")):
        assert main(["early-bird", str(given), "--out", str(out)]) == 0
        table = pd.read_csv(out / "early_bird.csv")
        assert table["task"].tolist() == ["rt-sentiment", "sst2"] and table["pairs"].tolist() == [3, 3]
        assert len(pd.read_csv(out / "early_bird_seeds.csv")) == 6
    assert (tmp_path / "a" / "early_bird.md").read_text() == (tmp_path / "b" / "early_bird.md").read_text()
    assert "| rt-sentiment | 3 | 3 | 0.750 | 384 | 768 | 2.00x |" in capsys.readouterr().out
    assert main(["early-bird", str(tmp_path / "nowhere")]) == 2
    assert run_folder(store, plain_identity(pairs[1][0].early.identity)) == pairs[1][0].imp.folder
