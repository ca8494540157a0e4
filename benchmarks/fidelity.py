"""Findings against the paper: IMP tickets vs random pruning vs random re-initialisation, and transfer.

For every task and seed: one IMP run (levels at k x rate sparsity, rewinding to theta_0,
pooler left out of the prunable set because the offline MiniLM's pooler is untrained, see
../shared/STUDY.md), then at each IMP level's exact sparsity a random-pruning ticket
(random mask, theta_0) and a random re-initialisation ticket (the IMP mask on randomly
initialised weights). Then the transfer matrix: the IMP mask of task A at one level,
fine-tuned from theta_0 on task B (MLM masks included). The size is a parameter; every
cell is one JSON file (IMP levels use run_imp's resumable run folders), so a killed run
resumes where it stopped and a re-run of the same command only prints the report.

    .venv/bin/python benchmarks/fidelity.py                   # the default (small) size
    .venv/bin/python benchmarks/fidelity.py --report-only     # summarise what is finished

Output: <out>/summary.json and Markdown tables on stdout (Table 2 analogue beside the
paper's numbers, IMP-minus-random gaps with their std over seeds, transfer matrix).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

import torch

from ticketlib.data import load_task_data
from ticketlib.imp import IMPConfig, PruneConfig, evaluate_ticket, imp_mask, random_mask, run_imp
from ticketlib.models import OFFLINE_MODEL, load_model
from ticketlib.prunable import PrunableSet
from ticketlib.store import params_hash, read_json, write_json
from ticketlib.tasks import get_task
from ticketlib.train import TrainConfig

GLUE_DIR = str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue")
SOURCES = {"rt-sentiment": "offline", "squad-qnli": "offline", "wiki-mlm": "offline",
           "rt-sentiment-score": "offline"}  # everything else: the GLUE folder
# The paper's highest matching sparsity (BERT-base), from ../shared/STUDY.md: (Table 2 within 1 std, Table 4 >= full)
PAPER = {"sst2": ("SST-2", 0.6, 0.5), "rt-sentiment": ("SST-2 (stand-in)", 0.6, 0.5), "cola": ("CoLA", 0.5, 0.4),
         "mrpc": ("MRPC", 0.5, 0.4), "stsb": ("STS-B", 0.5, 0.4), "wiki-mlm": ("MLM", 0.7, 0.5),
         "squad-qnli": ("QNLI (stand-in)", 0.7, 0.5)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["rt-sentiment", "sst2", "stsb", "wiki-mlm"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--train-examples", type=int, default=2000, help="per task (MLM: blocks)")
    p.add_argument("--eval-examples", type=int, default=300)
    p.add_argument("--mlm-eval-examples", type=int, default=48, help="dev blocks for MLM")
    p.add_argument("--steps", type=int, default=20, help="fine-tuning steps per run (every IMP level, every ticket)")
    p.add_argument("--levels", type=int, default=2)
    p.add_argument("--rate", type=float, default=0.45, help="paper schedule: level k at k x rate sparsity")
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--mlm-batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--mlm-max-length", type=int, default=64)
    p.add_argument("--transfer-level", type=int, default=1, help="IMP level whose masks are transferred")
    p.add_argument("--transfer-seeds", nargs="+", type=int, default=[0], help="seeds of the transfer matrix")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--glue-dir", default=GLUE_DIR)
    p.add_argument("--out", default=None, help="default: $TICKETLIB_BENCH_OUT (~/.cache/bert-tickets/benchmarks)/fidelity/<hash of the size>")
    p.add_argument("--report-only", action="store_true")
    return p.parse_args(argv)


SIZE_KEYS = ("tasks", "num_layers", "train_examples", "eval_examples", "mlm_eval_examples", "steps", "levels",
             "rate", "learning_rate", "batch_size", "mlm_batch_size", "max_length", "mlm_max_length")


class Study:
    def __init__(self, args):
        self.args = args
        self.spec = PrunableSet(include_pooler=False)
        size = {k: getattr(args, k) for k in SIZE_KEYS}
        self.out = Path(args.out or Path(os.environ.get("TICKETLIB_BENCH_OUT", "~/.cache/bert-tickets/benchmarks")).expanduser()
                        / "fidelity" / params_hash(size))
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(self.out / "size.json", size)
        self._data = {}
        self.transfer_seeds = args.transfer_seeds

    def is_mlm(self, task):
        return get_task(task).head == "mlm"

    def model(self, task, seed):
        model, tokenizer, _ = load_model(OFFLINE_MODEL, task, num_layers=self.args.num_layers, seed=seed)
        return model, tokenizer

    def data(self, task, tokenizer):
        if task not in self._data:
            mlm = self.is_mlm(task)
            self._data[task] = load_task_data(
                task, SOURCES.get(task, "glue_dir"), tokenizer, max_train_examples=self.args.train_examples,
                max_eval_examples=self.args.mlm_eval_examples if mlm else self.args.eval_examples,
                max_length=self.args.mlm_max_length if mlm else self.args.max_length, glue_dir=self.args.glue_dir)
            write_json(self.out / "trivial" / f"{task}.json", trivial_score(self._data[task]))
        return self._data[task]

    def train_config(self, task, seed):
        bs = self.args.mlm_batch_size if self.is_mlm(task) else self.args.batch_size
        return TrainConfig(learning_rate=self.args.learning_rate, max_steps=self.args.steps, batch_size=bs,
                           seed=seed, progress=False)

    def imp_dir(self, task, seed):
        return self.out / "imp" / task / f"seed{seed}"

    def imp(self, task, seed):
        model, tok = self.model(task, seed)
        data = self.data(task, tok)
        config = IMPConfig(prune=PruneConfig(levels=self.args.levels, rate=self.args.rate, include_pooler=False),
                           train=self.train_config(task, seed))
        return run_imp(model, data.train_features, data.evaluate, config, self.imp_dir(task, seed),
                       metadata={"task": task, "model": OFFLINE_MODEL, "num_layers": self.args.num_layers},
                       pad_token_id=data.pad_token_id)

    def cell(self, kind, task, seed, level, mask_of):
        """One ticket evaluation, skipped when its JSON exists. mask_of(model) -> (mask, init)."""
        path = self.out / "cells" / f"{kind}__{task}__seed{seed}__level{level}.json"
        if path.exists():
            return read_json(path)
        model, tok = self.model(task, seed)
        data = self.data(task, tok)
        mask, init = mask_of(model)
        start = time.perf_counter()
        row = evaluate_ticket(model, mask, data.train_features, data.evaluate, self.train_config(task, seed),
                              init=init, spec=self.spec, pad_token_id=data.pad_token_id)
        row.update(kind=kind, task=task, seed=seed, level=level, wall_seconds=round(time.perf_counter() - start, 2))
        write_json(path, row)
        return row

    def run(self):
        log = lambda *a: print(time.strftime("%H:%M:%S"), *a, flush=True)  # noqa: E731
        for seed in self.args.seeds:
            for task in self.args.tasks:
                rows = self.imp(task, seed)
                log("imp", task, seed, [(round(r["sparsity"], 3), r["metrics"]) for r in rows])
                for row in rows[1:]:
                    level, target = row["level"], row["sparsity"]
                    r = self.cell("random_prune", task, seed, level,
                                  lambda m: (random_mask(m, target, seed=seed + 1000 * level, spec=self.spec),
                                             "pretrained"))
                    log("random_prune", task, seed, level, r["metrics"])
                    r = self.cell("random_reinit", task, seed, level,
                                  lambda m: (imp_mask(self.imp_dir(task, seed), level)[0], "random"))
                    log("random_reinit", task, seed, level, r["metrics"])
            if seed in self.transfer_seeds:  # transfer right after its seed's tickets exist
                self.transfer(seed, log)
        for seed in self.transfer_seeds:
            if seed not in self.args.seeds:
                self.transfer(seed, log)

    def transfer(self, seed, log):
        level = self.args.transfer_level
        for source in self.args.tasks:
            for target in self.args.tasks:
                if source != target:
                    r = self.cell(f"transfer_from_{source}", target, seed, level,
                                  lambda m: (imp_mask(self.imp_dir(source, seed), level)[0], "pretrained"))
                    log("transfer", source, "->", target, seed, r["metrics"])


def trivial_score(data) -> dict:
    """What a model with no signal scores on the dev features: the majority class's accuracy,
    0 correlation, or (MLM) the share of the most frequent masked-token target."""
    metric = data.matching_metric
    labels = [f["labels"] for f in data.eval_features]
    if data.task.head == "mlm":
        targets = [t for row in labels for t in row if t != -100]
        return {"metric": metric, "value": max(Counter(targets).values()) / len(targets),
                "meaning": "share of the most frequent masked-token target"}
    if metric == "accuracy":
        return {"metric": metric, "value": max(Counter(labels).values()) / len(labels), "meaning": "majority class"}
    return {"metric": metric, "value": 0.0, "meaning": "no correlation"}


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, 0
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None), len(values)


def _fmt(mean, std=None):
    if mean is None:
        return "–"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def summarise(study: Study) -> dict:
    args, out = study.args, study.out
    levels: dict = {}  # task -> level -> {"sparsity", kind -> {seed: value}}
    for task in args.tasks:
        metric = get_task(task).matching_metric
        for seed in args.seeds:
            for level in range(args.levels + 1):
                path = out / "imp" / task / f"seed{seed}" / f"level_{level:02d}" / "level.json"
                if path.exists():
                    row = read_json(path)
                    entry = levels.setdefault(task, {}).setdefault(level, {"sparsity": row["sparsity"]})
                    entry.setdefault("imp", {})[seed] = row["metrics"][metric]
        for path in sorted((out / "cells").glob(f"*__{task}__*.json")):
            row = read_json(path)
            entry = levels.setdefault(task, {}).setdefault(row["level"], {"sparsity": row["sparsity"]})
            entry.setdefault(row["kind"], {})[row["seed"]] = row["metrics"][metric]
    tables = {"table2": [], "levels": [], "transfer": {}}
    for task, by_level in levels.items():
        metric = get_task(task).matching_metric
        dense_mean, dense_std, n_dense = _mean_std(list(by_level.get(0, {}).get("imp", {}).values()))
        best = {"within_1_std": 0.0, "at_least_full": 0.0}
        broken = {"within_1_std": False, "at_least_full": False}
        for level in sorted(by_level):
            entry = by_level[level]
            row = {"task": task, "metric": metric, "level": level, "sparsity": round(entry["sparsity"], 4)}
            for kind in ("imp", "random_prune", "random_reinit"):
                m, s, n = _mean_std(list(entry.get(kind, {}).values()))
                row[kind] = {"mean": m, "std": s, "n": n, "per_seed": entry.get(kind, {})}
            for base in ("random_prune", "random_reinit"):
                paired = [entry["imp"][s] - entry[base][s] for s in entry.get("imp", {}) if s in entry.get(base, {})]
                m, s, n = _mean_std(paired)
                row[f"imp_minus_{base}"] = {"mean": m, "std": s, "n": n}
            imp_mean = row["imp"]["mean"]
            if level > 0 and imp_mean is not None and dense_mean is not None:
                checks = {"within_1_std": imp_mean >= dense_mean - (dense_std or 0.0),
                          "at_least_full": imp_mean >= dense_mean}
                row["matching"] = checks
                for key, ok in checks.items():  # highest sparsity with every lower level matching too
                    if ok and not broken[key]:
                        best[key] = entry["sparsity"]
                    broken[key] = broken[key] or not ok
            tables["levels"].append(row)
        paper = PAPER.get(task, (task, None, None))
        trivial_path = out / "trivial" / f"{task}.json"
        trivial = read_json(trivial_path)["value"] if trivial_path.exists() else None
        # Matching is only meaningful when the dense model learned something: flag a dense mean
        # within one std (or 0.02) of what a model with no signal scores.
        signal = None if trivial is None or dense_mean is None else \
            dense_mean - trivial > max(dense_std or 0.0, 0.02)
        tables["table2"].append({"task": task, "metric": metric, "dense_mean": dense_mean, "dense_std": dense_std,
                                 "seeds": n_dense, "no_signal_score": trivial, "dense_has_signal": signal,
                                 "ours_within_1_std": round(best["within_1_std"], 4),
                                 "ours_at_least_full": round(best["at_least_full"], 4), "paper_task": paper[0],
                                 "paper_within_1_std": paper[1], "paper_at_least_full": paper[2]})
    level = args.transfer_level
    for target in args.tasks:
        metric = get_task(target).matching_metric
        column = {}
        own = levels.get(target, {}).get(level, {})
        column["dense"] = _mean_std(list(levels.get(target, {}).get(0, {}).get("imp", {}).values()))[:2]
        column[f"own IMP ticket"] = _mean_std([v for s, v in own.get("imp", {}).items()
                                               if s in study.transfer_seeds])[:2]
        column["random mask"] = _mean_std([v for s, v in own.get("random_prune", {}).items()
                                           if s in study.transfer_seeds])[:2]
        for source in args.tasks:
            if source != target:
                column[f"mask from {source}"] = _mean_std(list(own.get(f"transfer_from_{source}", {}).values()))[:2]
        tables["transfer"][target] = {"metric": metric, "sparsity": own.get("sparsity"), "rows": column}
    return tables


def print_report(study: Study, tables: dict) -> None:
    args = study.args
    print("\n### Table 2 analogue: highest matching sparsity (IMP, rewound to theta_0)\n")
    print("| task | metric | dense (mean ± std) | no-signal score | dense learned? | ours: within 1 std | ours: >= full | paper task | paper: within 1 std | paper: >= full |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in tables["table2"]:
        pct = lambda v: "–" if v is None else f"{100 * v:.0f}%"  # noqa: E731
        learned = {True: "yes", False: "NO (matching is vacuous)", None: "–"}[r["dense_has_signal"]]
        print(f"| {r['task']} | {r['metric']} | {_fmt(r['dense_mean'], r['dense_std'])} (n={r['seeds']}) | "
              f"{_fmt(r['no_signal_score'])} | {learned} | "
              f"{pct(r['ours_within_1_std'])} | {pct(r['ours_at_least_full'])} | {r['paper_task']} | "
              f"{pct(r['paper_within_1_std'])} | {pct(r['paper_at_least_full'])} |")
    print("\n### Per level: mean ± std over seeds; gaps are paired by seed\n")
    print("| task | sparsity | IMP | random pruning | random re-init | IMP − random pruning | IMP − random re-init |")
    print("|---|---|---|---|---|---|---|")
    for r in tables["levels"]:
        cells = [_fmt(r[k]["mean"], r[k]["std"]) + f" (n={r[k]['n']})" if r[k]["n"] else "–"
                 for k in ("imp", "random_prune", "random_reinit", "imp_minus_random_prune",
                           "imp_minus_random_reinit")]
        print(f"| {r['task']} | {100 * r['sparsity']:.1f}% | " + " | ".join(cells) + " |")
    print(f"\n### Transfer at IMP level {args.transfer_level} (rows: whose mask; columns: task fine-tuned on; "
          f"mean ± std over seeds {study.transfer_seeds})\n")
    targets = list(tables["transfer"])
    print("| mask \\ task | " + " | ".join(f"{t} ({tables['transfer'][t]['metric']})" for t in targets) + " |")
    print("|---|" + "---|" * len(targets))
    row_names = ["dense", "own IMP ticket", "random mask"] + [f"mask from {s}" for s in args.tasks]
    for name in row_names:
        cells = []
        for t in targets:
            value = tables["transfer"][t]["rows"].get(name)
            cells.append("(own)" if value is None else _fmt(*value))
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    study = Study(args)
    start = time.perf_counter()
    if not args.report_only:
        study.run()
    tables = summarise(study)
    tables["run"] = {"size": {k: getattr(args, k) for k in SIZE_KEYS}, "seeds": args.seeds,
                     "transfer_level": args.transfer_level, "transfer_seeds": study.transfer_seeds,
                     "wall_seconds_this_invocation": round(time.perf_counter() - start, 1),
                     "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "machine": platform.machine(), "out": str(study.out)}
    write_json(study.out / "summary.json", tables)
    print_report(study, tables)
    print("\n" + json.dumps(tables["run"], indent=2))


if __name__ == "__main__":
    main()
