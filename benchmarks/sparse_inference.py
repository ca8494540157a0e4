"""CPU inference latency of tickets at 50/70/90% sparsity: dense kernels vs sparse execution paths.

Paths, each checked against the dense masked model's logits (max |difference| <= --atol):
- dense: the masked model as trained (zeros stored densely, dense GEMMs);
- csr: every pruned Linear's weight stored as torch sparse CSR, computed with torch.sparse.mm;
- ffn_shrink: structured removal of fully pruned FFN neurons (a neuron whose input row or
  output column is entirely pruned is removed exactly; a row-dead neuron's constant
  contribution gelu(b) * W_out[:, i] is folded into the output bias), dense GEMMs after;
- semi_structured (2:4): torch's kernels are CUDA-only; attempted and reported.

Tickets: by default one-shot magnitude masks of theta_0 (the same global magnitude ranking
IMP uses, without the fine-tuning in between); with --imp-run, the masks of the IMP levels in
that run folder (nearest to each target sparsity; the run's --num-layers must match).
Inputs are real dev sentences of the offline sentiment task: batch 1 (a median-length
sentence) and batch 32 (a length-grouped batch). Variants are interleaved round by round;
medians reported.

    .venv/bin/python benchmarks/sparse_inference.py [--rounds 5] [--repeats 10]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from ticketlib.core.config import PrunableSet
from ticketlib.core.imp import imp_mask, one_shot_magnitude_mask
from ticketlib.core.masker import Masker
from ticketlib.core.masks import sparsity
from ticketlib.core.prunable import base_model, prunable_parameters
from ticketlib.foundations.batching import Batches
from ticketlib.tasks.data import load_task_data
from ticketlib.tasks.models import OFFLINE_MODEL, load_model

SPEC = PrunableSet(include_pooler=False)


class CSRLinear(nn.Module):
    """y = x W^T + b with W stored as sparse CSR."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.weight = linear.weight.detach().to_sparse_csr()
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        y = torch.sparse.mm(self.weight, flat.t()).t()
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], y.shape[-1])


def to_csr(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    base = base_model(model)
    for key in prunable_parameters(model, SPEC):
        path = key.rpartition(".")[0]
        parent_path, _, child = path.rpartition(".")
        setattr(base.get_submodule(parent_path), child, CSRLinear(base.get_submodule(path)))
    return model


@torch.no_grad()
def shrink_ffn(model: nn.Module) -> tuple[nn.Module, dict]:
    """Remove FFN neurons that are fully pruned (exactly; see the module docstring)."""
    model = copy.deepcopy(model)
    kept_total = neurons_total = 0
    for layer in base_model(model).encoder.layer:
        inter, out = layer.intermediate.dense, layer.output.dense
        act = layer.intermediate.intermediate_act_fn
        row_dead = (inter.weight == 0).all(dim=1)
        col_dead = (out.weight == 0).all(dim=0)
        folded = row_dead & ~col_dead
        if folded.any():
            out.bias += out.weight[:, folded] @ act(inter.bias[folded])
        keep = ~(row_dead | col_dead)
        kept_total += int(keep.sum())
        neurons_total += keep.numel()
        new_inter = nn.Linear(inter.in_features, int(keep.sum()))
        new_inter.weight.copy_(inter.weight[keep])
        new_inter.bias.copy_(inter.bias[keep])
        new_out = nn.Linear(int(keep.sum()), out.out_features)
        new_out.weight.copy_(out.weight[:, keep])
        new_out.bias.copy_(out.bias)
        layer.intermediate.dense, layer.output.dense = new_inter, new_out
    return model.eval(), {"ffn_neurons_kept": kept_total, "ffn_neurons_total": neurons_total}


def try_semi_structured(model: nn.Module) -> str:
    try:
        from torch.sparse import to_sparse_semi_structured

        weight = next(iter(prunable_parameters(model, SPEC).values())).detach()
        to_sparse_semi_structured(weight)
        return "available (not used: the tickets are not 2:4 patterned; re-pruning to 2:4 would change the outputs)"
    except Exception as error:  # noqa: BLE001 - report whatever torch says
        return f"unavailable on this CPU build: {type(error).__name__}: {str(error).splitlines()[0][:160]}"


def fully_pruned_rows(mask) -> dict:
    rows = sum(int((~m).all(dim=1).sum()) for m in mask.values())
    cols = sum(int((~m).all(dim=0).sum()) for m in mask.values())
    return {
        "fully_pruned_rows": rows,
        "fully_pruned_columns": cols,
        "rows_total": sum(m.shape[0] for m in mask.values()),
        "columns_total": sum(m.shape[1] for m in mask.values()),
    }


def masks_for(args, model) -> dict[float, tuple]:
    if args.imp_run:
        run = Path(args.imp_run)
        levels = sorted(int(p.name.split("_")[1]) for p in run.glob("level_*") if (p / "mask.safetensors").exists())
        found = {lv: imp_mask(run, lv)[0] for lv in levels}
        chosen = {}
        for target in args.sparsities:
            lv = min(found, key=lambda lv: abs(sparsity(found[lv]) - target))
            chosen[target] = (found[lv], f"IMP {run} level {lv}")
        return chosen
    return {
        t: (one_shot_magnitude_mask(model, t, SPEC), "one-shot global magnitude mask of theta_0")
        for t in args.sparsities
    }


def median_latencies(models: dict, inputs: dict, rounds: int, repeats: int) -> dict[str, float]:
    """Median latency (ms) of every model on every input, keyed "<model>/<input>": one warm-up
    pass each, then `rounds` rounds that time every model in turn (`repeats` passes per input),
    interleaved so that a drift in load hits every variant alike. Also used by structured_speed.py."""
    times = {(name, key): [] for name in models for key in inputs}
    with torch.inference_mode():
        for m in models.values():  # warm-up
            for x in inputs.values():
                m(**x)
        for _ in range(rounds):
            for name, m in models.items():
                for key, x in inputs.items():
                    for _ in range(repeats):
                        start = time.perf_counter()
                        m(**x)
                        times[(name, key)].append(time.perf_counter() - start)
    return {f"{n}/{k}": round(1000 * statistics.median(v), 3) for (n, k), v in times.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sparsities", nargs="+", type=float, default=[0.5, 0.7, 0.9])
    p.add_argument("--num-layers", type=int, default=None, help="default: all 6")
    p.add_argument("--imp-run", default=None, help="an IMP run folder whose level masks to use")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=10, help="forward passes per variant per round")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    theta0, tokenizer, info = load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=args.num_layers, seed=0)
    data = load_task_data("rt-sentiment", "offline", tokenizer, max_length=128, max_eval_examples=872)
    features = sorted(data.eval_features, key=lambda f: len(f["input_ids"]))
    middle = len(features) // 2
    batch_32 = next(iter(Batches(features[middle - 16 : middle + 16], 32, pad_token_id=data.pad_token_id)))[1]
    batch_1 = next(iter(Batches([features[middle]], 1, pad_token_id=data.pad_token_id)))[1]
    inputs = {
        "batch1": {k: v for k, v in batch_1.items() if k != "labels"},
        "batch32": {k: v for k, v in batch_32.items() if k != "labels"},
    }
    semi = try_semi_structured(theta0)
    results = {
        "benchmark": "sparse_inference",
        "model": OFFLINE_MODEL,
        "num_layers": info["num_layers"],
        "tokens": {k: list(v["input_ids"].shape) for k, v in inputs.items()},
        "semi_structured_2_4": semi,
        "by_sparsity": {},
    }
    models = {"dense_unpruned": theta0}
    checks = {}
    for target, (mask, origin) in masks_for(args, theta0).items():
        masked = copy.deepcopy(theta0)
        Masker(masked, mask, SPEC).apply()
        masked.eval()
        shrunk, shrink_info = shrink_ffn(masked)
        tag = f"{round(100 * target)}%"
        variants = {f"{tag}/dense": masked, f"{tag}/csr": to_csr(masked), f"{tag}/ffn_shrink": shrunk}
        with torch.inference_mode():
            for name, m in variants.items():
                for key, x in inputs.items():
                    diff = (m(**x).logits - masked(**x).logits).abs().max().item()
                    checks[f"{name}/{key}"] = diff
        models.update(variants)
        results["by_sparsity"][tag] = {
            "sparsity": round(sparsity(mask), 4),
            "mask": origin,
            **shrink_info,
            **fully_pruned_rows(mask),
        }
    median_ms = median_latencies(models, inputs, args.rounds, args.repeats)
    results["latency_ms_median"] = median_ms
    results["speedup_over_masked_dense"] = {
        f"{n}/{k}": round(median_ms[f"{n.split('/')[0]}/dense/{k}"] / median_ms[f"{n}/{k}"], 3)
        for (n, k) in (key.rsplit("/", 1) for key in median_ms)
        if "/" in n and not n.endswith("/dense")
    }
    results["max_abs_logit_difference"] = {k: float(f"{v:.3g}") for k, v in checks.items()}
    results["outputs_equal_within_atol"] = all(v <= args.atol for v in checks.values())
    results["atol"] = args.atol
    results.update(
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        loadavg=os.getloadavg(),
        date=time.strftime("%Y-%m-%d %H:%M"),
        mkl=torch.backends.mkl.is_available(),
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
