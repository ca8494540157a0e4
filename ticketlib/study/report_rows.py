"""The rows of the report's tables, as its template shows them: whether each task learned, Table 2
and 4 beside the paper's, IMP's gaps to each baseline, the transfer cells, and the diagnostic
(ticket or magnitude pruning?)."""

from __future__ import annotations

import math

import pandas as pd

from ticketlib.study import tables as T
from ticketlib.study import wording
from ticketlib.study.claims import Judgement
from ticketlib.study.overlap import OVERLAP_METHOD


def _pct(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


def _num(value: float, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"[{low:+.3f}, {high:+.3f}]"


def learning_sentences(study: Judgement) -> list[dict]:
    """Per task, one sentence: the full model's score, its interval, the no-signal score, the verdict."""
    out = []
    for task, item in study.learning.items():
        full = item.full
        if full is None:
            text = f"{task}: no full-model result."
        else:
            ci = f", {full.confidence:.0%} CI [{full.low:.3f}, {full.high:.3f}]" if full.has_interval else ""
            bar = (
                f", no-signal score {item.no_signal:.3f}"
                if item.no_signal is not None
                else ", no no-signal score recorded"
            )
            text = (
                f"{task} ({item.metric}): the full model scored {full.mean:.3f} ± {full.std:.3f} over {full.n} "
                f"seed{'s' if full.n != 1 else ''}{ci}{bar}; {item.reason}."
            )
        out.append({"task": task, "status": item.status, "css": item.status.replace(" ", "-"), "text": text})
    return out


def table2_rows(study: Judgement) -> list[dict]:
    """Our Table 2 and 4 beside the paper's, one dict per task, for the template."""
    from ticketlib.foundations.paper import paper_row

    out = []
    for _, row in study.matching.iterrows():
        paper = paper_row(row["task"])
        out.append(
            {
                "task": row["task"],
                "metric": row["metric"],
                "learned": row["learned"],
                "css": row["learned"].replace(" ", "-"),
                "full": f"{row['full mean']:.3f} ± {row['full std']:.3f} (n = {row['full seeds']})",
                "tested": row["sparsities tested"] or "none",
                "seeds": row["seeds per sparsity"],
                "ours2": row["highest matching (within 1 std)"],
                "ours4": row["highest matching (>= full)"],
                "paper_task": f"{paper[0].task}" + ("" if paper[1] == "same task" else f" ({paper[1]})")
                if paper
                else "not in the paper",
                "paper2": _pct(paper[0].table2) if paper else "",
                "paper4": _pct(paper[0].table4) if paper else "",
            }
        )
    return out


def gap_rows(study: Judgement) -> list[dict]:
    learned = {t for t, i in study.learning.items() if i.status == T.LEARNED}
    return [
        {
            "task": r["task"],
            "sparsity": _pct(r["sparsity"]),
            "comparison": r["comparison"],
            "means": f"{r['IMP mean']:.3f} vs {r['other mean']:.3f}",
            "gap": _num(r["gap"], sign=True),
            "ci": _interval(r["CI low"], r["CI high"]),
            "pairs": r["pairs"],
            "above": (not math.isnan(r["CI low"])) and r["CI low"] > 0,
            "counted": r["task"] in learned,
        }
        for _, r in study.gaps.iterrows()
    ]


def transfer_rows(study: Judgement) -> list[dict]:
    return [
        {
            "source": r["source"],
            "target": r["target"],
            "sparsity": _pct(r["sparsity"]),
            "own": r["source"] == r["target"],
            "mean": f"{r['mean']:.3f} ± {r['std']:.3f} (n = {r['seeds']})",
            "difference": "own ticket" if r["source"] == r["target"] else _num(r["difference"], sign=True),
            "ci": _interval(r["CI low"], r["CI high"]),
            "matching": "yes" if r["matching"] else "no",
        }
        for _, r in study.transfer.iterrows()
    ]


def diagnostic(judgement: Judgement, rows: pd.DataFrame, pairs: pd.DataFrame) -> dict:
    """Ticket or magnitude pruning? The masks' overlaps (rows of method "mask_overlap"), IMP - OMP
    where OMP ran, and what these imply for the transfer test."""
    overlaps = rows[rows["method"] == OVERLAP_METHOD] if len(rows) else rows
    omp = judgement.gaps[judgement.gaps["method"] == "omp"] if len(judgement.gaps) else judgement.gaps
    return {
        "overlaps": [
            {
                "task": r["task"],
                "other": r["source_task"],
                "sparsity": _pct(r["sparsity"]),
                "jaccard": f"{r['value']:.3f}",
            }
            for _, r in overlaps.iterrows()
        ],
        "omp": [
            {
                "task": r["task"],
                "sparsity": _pct(r["sparsity"]),
                "gap": _num(r["gap"], sign=True),
                "ci": _interval(r["CI low"], r["CI high"]),
                "pairs": r["pairs"],
            }
            for _, r in omp.iterrows()
        ],
        "pairs": [
            {
                "target": r["target"],
                "sparsity": _pct(r["sparsity"]),
                "a": r["a"],
                "b": r["b"],
                "gap": _num(r["gap"], sign=True),
                "ci": _interval(r["CI low"], r["CI high"]),
                "apart": not (r["CI low"] <= 0 <= r["CI high"]),
            }
            for _, r in pairs.iterrows()
        ],
        "overlap_text": wording.overlap_text(overlaps),
        "sentence": wording.overlap_sentence(pairs),
    }
