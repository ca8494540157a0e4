"""ticketlib.study.overlap: the tickets' Jaccard overlaps as tidy rows, against hand-counted masks."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from report_fixtures import study_rows

from ticketlib.study import cells as C
from ticketlib.study import tables as T
from ticketlib.study.overlap import METRIC, OVERLAP_METHOD, THETA0, overlap_rows
from ticketlib.tickets.results import ROW_COLUMNS
from ticketlib.tickets.ticket import Ticket


def mask(*kept):
    return {"w": torch.tensor(kept, dtype=torch.bool)}


def test_overlap_rows_count_the_pruned_sets():
    # pruned: a {2, 3}, b {3, 4}, theta_0 {2, 3}: a-b 1/3, a-theta_0 1, b-theta_0 1/3
    a = Ticket(mask(1, 1, 0, 0, 1), {}, "a", level=1)
    b = Ticket(mask(1, 1, 1, 0, 0), {}, "b", level=1)
    theta0 = mask(1, 1, 0, 0, 1)
    rows = overlap_rows({"rt-sentiment": a, "sst2": b}, {"rt-sentiment": theta0, "sst2": theta0})
    assert list(rows.columns) == ROW_COLUMNS
    assert set(rows["method"]) == {OVERLAP_METHOD} and set(rows["metric"]) == {METRIC}
    value = rows.set_index(["task", "source_task"])["value"]
    assert value[("rt-sentiment", THETA0)] == 1.0
    assert value[("sst2", THETA0)] == pytest.approx(1 / 3)
    assert value[("rt-sentiment", "sst2")] == value[("sst2", "rt-sentiment")] == pytest.approx(1 / 3)
    assert rows["sparsity"].tolist() == [0.4] * 4


def test_overlap_rows_never_enter_the_claims():
    rows = study_rows()
    a = Ticket(mask(1, 0), {}, "a", level=2)
    extra = overlap_rows({"rt-sentiment": a}, {"rt-sentiment": mask(0, 1)})
    both = pd.concat([rows, extra], ignore_index=True)
    assert T.gap_table(both).equals(T.gap_table(rows)) and C.seed_stats(both).equals(C.seed_stats(rows))
