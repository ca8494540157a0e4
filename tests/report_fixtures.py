"""A realistic study's outputs, hand-written (no training): tidy rows, ticket folders, runs.json.

Three tasks: rt-sentiment learns (full 0.81 +/- 0.01 over 3 seeds, no-signal 0.51), squad-qnli
sits at chance (0.51 +/- 0.01 against 0.50), squad-retrieval (the offline model's pre-training
objective) learns. IMP on rt-sentiment at 20/36/49/59%, random pruning at every level, random
re-init at two; the squad-retrieval mask transferred to rt-sentiment and back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

SPARSITY = {1: 0.2, 2: 0.36, 3: 0.488, 4: 0.5904}
RT_IMP = {1: (0.81, 0.82, 0.80), 2: (0.80, 0.81, 0.80), 3: (0.79, 0.80, 0.80), 4: (0.70, 0.72, 0.71)}
RT_RANDOM = {1: (0.78, 0.80, 0.79), 2: (0.70, 0.71, 0.69), 3: (0.66, 0.65, 0.64), 4: (0.60, 0.62, 0.61)}
RT_REINIT = {2: (0.60, 0.61, 0.58), 4: (0.55, 0.56, 0.54)}
RETRIEVAL_TO_RT = (0.79, 0.80, 0.80)
RT_TO_RETRIEVAL = (0.70, 0.75, 0.80)


def row(experiment, method, task, level, seed, value, source=None, metric="accuracy", run_id="r"):
    return {
        "experiment": experiment,
        "method": method,
        "task": task,
        "source_task": source or task,
        "model": "offline-minilm",
        "seed": seed,
        "level": level,
        "sparsity": 0.0 if level == 0 else SPARSITY[level],
        "rewind_step": 0,
        "metric": metric,
        "value": value,
        "steps": 48,
        "train_seconds": 30.0,
        "run_id": run_id,
    }


def study_rows() -> pd.DataFrame:
    rows = []
    for seed, value in enumerate((0.80, 0.82, 0.81)):
        rows.append(row("baselines", "full", "rt-sentiment", 0, seed, value, run_id="b"))
        rows.append(row("baselines", "no_signal", "rt-sentiment", 0, seed, 0.51, run_id="b"))
    for level, values in RT_IMP.items():
        for seed, value in enumerate(values):
            rows.append(row("baselines", "imp", "rt-sentiment", level, seed, value, run_id="b"))
            rows.append(
                row("baselines", "random_pruning", "rt-sentiment", level, seed, RT_RANDOM[level][seed], run_id="b")
            )
            if level in RT_REINIT:
                rows.append(
                    row("baselines", "random_reinit", "rt-sentiment", level, seed, RT_REINIT[level][seed], run_id="b")
                )
    for level, value in ((0, 0.80), (1, 0.81), (2, 0.79), (3, 0.78), (4, 0.69)):  # the one-seed IMP search
        rows.append(row("find_tickets", "imp", "rt-sentiment", level, 0, value, run_id="f-rt"))
    for seed, value in enumerate((0.52, 0.50, 0.51)):  # at chance
        rows.append(row("find_tickets", "imp", "squad-qnli", 0, seed, value, run_id=f"f-qnli-{seed}"))
        rows.append(row("find_tickets", "imp", "squad-qnli", 2, seed, value - 0.01, run_id=f"f-qnli-{seed}"))
        rows.append(row("find_tickets", "no_signal", "squad-qnli", 0, seed, 0.50, run_id=f"f-qnli-{seed}"))
    for seed, (full, pruned) in enumerate(((0.90, 0.89), (0.91, 0.90), (0.92, 0.90))):
        for level, value in ((0, full), (2, pruned)):
            rows.append(
                row(
                    "find_tickets",
                    "imp",
                    "squad-retrieval",
                    level,
                    seed,
                    value,
                    metric="accuracy_at_1",
                    run_id=f"f-ret-{seed}",
                )
            )
            rows.append(
                row(
                    "find_tickets",
                    "imp",
                    "squad-retrieval",
                    level,
                    seed,
                    value - 0.05,
                    metric="mrr",
                    run_id=f"f-ret-{seed}",
                )
            )
        rows.append(
            row(
                "find_tickets",
                "no_signal",
                "squad-retrieval",
                0,
                seed,
                0.002,
                metric="accuracy_at_1",
                run_id=f"f-ret-{seed}",
            )
        )
        rows.append(
            row(
                "transfer",
                "transfer",
                "rt-sentiment",
                2,
                seed,
                RETRIEVAL_TO_RT[seed],
                source="squad-retrieval",
                run_id="t1",
            )
        )
        rows.append(
            row(
                "transfer",
                "transfer",
                "squad-retrieval",
                2,
                seed,
                RT_TO_RETRIEVAL[seed],
                source="rt-sentiment",
                metric="accuracy_at_1",
                run_id="t2",
            )
        )
    return pd.DataFrame(rows)


MATRICES = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def make_mask(sparsity: float, seed: int, layers: int = 2) -> dict:
    generator = torch.Generator().manual_seed(seed)
    mask = {}
    for layer in range(layers):
        for index, matrix in enumerate(MATRICES):
            # layer 1's value matrix is pruned harder, so the heatmap has something to show
            share = min(0.95, sparsity * (1.6 if (layer, matrix) == (1, "attention.self.value") else 1.0))
            scores = torch.rand(8, 8, generator=generator)
            mask[f"encoder.layer.{layer}.{matrix}.weight"] = scores >= torch.quantile(scores, share)
    return mask


def make_ticket_run(folder: Path, task: str, levels=(1, 2), seed: int = 0) -> Path:
    from ticketlib.core.mask_io import save_mask
    from ticketlib.foundations.atomic import write_json

    write_json(folder / "run.json", {"experiment": "find_tickets", "recipe": {"task": task}})
    for level in levels:
        level_dir = folder / "imp" / f"level_{level:02d}"
        save_mask(level_dir / "mask.safetensors", make_mask(SPARSITY[level], seed * 10 + level), task=task, level=level)
        write_json(
            level_dir / "level.json",
            {"level": level, "sparsity": SPARSITY[level], "steps": 48, "train_seconds": 1.0, "metrics": {}},
        )
    return folder


DEFAULTS = {"model": "offline-minilm", "max_steps": 48, "learning_rate": 5e-5, "levels": 4}


def make_study(tmp_path: Path, notebook_html: str = "<html><body><p>executed</p></body></html>") -> Path:
    """reports/ as a sweep leaves it: runs.json, results.csv, run folders (one failed)."""
    reports, store = tmp_path / "reports", tmp_path / "store"
    runs = []

    def add(experiment, label, status, params, folder, duration=60.0, error=None, html=True):
        folder.mkdir(parents=True, exist_ok=True)
        if html:
            (folder / "notebook.html").write_text(notebook_html)
        runs.append(
            {
                "run_id": f"id{len(runs)}",
                "experiment": experiment,
                "name": f"{experiment}[{label}]",
                "label": label,
                "status": status,
                "skipped": False,
                "duration_s": duration,
                "error": error,
                "params": params,
                "needs": {},
                "folder": str(folder),
            }
        )

    for i, task in enumerate(("rt-sentiment", "squad-qnli", "squad-retrieval")):
        folder = make_ticket_run(store / "find_tickets" / f"{task}-{i}", task, seed=i)
        experiment = "find_tickets_retrieval" if task == "squad-retrieval" else "find_tickets"  # a profile's name
        add(
            experiment,
            f"task={task}",
            "ok",
            {**DEFAULTS, "task": task, "max_steps": 32 if task == "squad-qnli" else 48},
            folder,
        )
    add(
        "find_tickets",
        "task=wiki-mlm",
        "failed",
        {**DEFAULTS, "task": "wiki-mlm"},
        store / "find_tickets" / "wiki-mlm-9.partial",
        error="RuntimeError: <boom> & co",
    )
    add(
        "baselines",
        "task=rt-sentiment",
        "ok",
        {**DEFAULTS, "task": "rt-sentiment", "at_levels": [1, 2, 3, 4], "seeds": [0, 1, 2]},
        store / "baselines" / "b",
    )
    add(
        "transfer",
        "task=rt-sentiment, source_task=squad-retrieval",
        "ok",
        {**DEFAULTS, "task": "rt-sentiment", "source_task": "squad-retrieval", "at_levels": [2]},
        store / "transfer" / "t1",
    )
    add(
        "transfer",
        "task=squad-retrieval, source_task=rt-sentiment",
        "ok",
        {**DEFAULTS, "task": "squad-retrieval", "source_task": "rt-sentiment", "at_levels": [2]},
        store / "transfer" / "t2",
    )
    add(
        "summary",
        "",
        "ok",
        {"level": 2, "note": "What it can show: matching up to 40%.\n\nWhat it cannot: the paper's 90%."},
        store / "summary" / "s",
        duration=5.0,
    )
    reports.mkdir(parents=True)
    (reports / "runs.json").write_text(
        json.dumps(
            {
                "profile": "test",
                "description": "A hand-written study.",
                "store": str(store),
                "defaults": DEFAULTS,
                "task_params": {"squad-qnli": {"max_steps": 32}},
                "runs": runs,
            }
        )
    )
    study_rows().to_csv(reports / "results.csv", index=False)
    return reports
