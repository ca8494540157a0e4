"""Per-seed transfer: training seed s fine-tunes the mask of the source's find_tickets run with
seed s (params/cpu.yaml), and the rows record which seed's mask (`mask_seed`); results written
before that column existed still read."""

from __future__ import annotations

import pandas as pd

from ticketlib.study.profiles import load_profile
from ticketlib.sweep import expand
from ticketlib.tickets.results import ROW_COLUMNS, concat_rows


def test_cpu_transfer_trains_each_seed_with_its_own_mask(tmp_path):
    transfers = [r for r in expand(load_profile("cpu"), tmp_path) if r.experiment == "transfer"]
    assert transfers
    for run in transfers:
        source = run.needs["ticket"]
        assert run.params["seeds"] is None  # the notebook trains with the run's own seed
        assert source.params["task"] == run.params["source_task"]
        assert source.params["seed"] == run.params["seed"]
    assert {r.params["seed"] for r in transfers} == {0, 1, 2}


def test_results_without_mask_seed_still_read(tmp_path):
    old = [c for c in ROW_COLUMNS if c != "mask_seed"]
    path = tmp_path / "rows.csv"
    pd.DataFrame([dict.fromkeys(old, 0)]).to_csv(path, index=False)
    table = concat_rows([path])
    assert list(table.columns) == ROW_COLUMNS and len(table) == 1  # the full schema, mask_seed empty
    assert table["mask_seed"].isna().all() and table["seed"].tolist() == [0]
