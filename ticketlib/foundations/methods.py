"""The registry of methods: every value of the tidy rows' `method` column, in the order tables and
figures show them, with what claim 2 and the gap table do with it. Adding a baseline is one
entry here (and its mask builder in ticketlib.study.experiments).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str  # the rows' `method` value
    short: str  # tables and legends
    title: str  # what was trained
    claim2: bool = False  # claim 2 counts IMP - this method (the paper's baselines)
    gap: bool = False  # the gap table shows IMP - this method where it ran


REGISTRY: tuple[Method, ...] = (
    Method("full", "full model", "full model (no pruning)", gap=True),
    Method("imp", "IMP", "IMP ticket (rewound to theta_0)"),
    Method("random_pruning", "random pruning", "random pruning", claim2=True, gap=True),
    Method("random_reinit", "random re-init", "random re-init with the IMP mask", claim2=True, gap=True),
    Method("omp", "one-shot magnitude pruning", "one-shot magnitude pruning of theta_0", gap=True),
    Method("wanda", "Wanda", "Wanda (|W| x input norm, per row) of theta_0", gap=True),
    Method("standard_pruning", "standard pruning", "standard pruning (no rewinding)", gap=True),
    Method("transfer", "transfer", "transferred mask"),
)
BY_NAME = {m.name: m for m in REGISTRY}
METHOD_NAMES = {m.name: m.short for m in REGISTRY}
METHOD_TITLES = {m.name: m.title for m in REGISTRY}
CLAIM2_BASELINES = tuple(m.name for m in REGISTRY if m.claim2)
# the gap table's order: claim 2's baselines first, then the others, the full model last
GAP_METHODS = (
    CLAIM2_BASELINES + tuple(m.name for m in REGISTRY if m.gap and not m.claim2 and m.name != "full") + ("full",)
)
