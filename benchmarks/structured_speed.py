"""CPU latency of structured tickets after shrinking vs the dense model vs an unstructured
ticket at the same weight sparsity.

Variants, per unit fraction f (default 0.5 and 0.7):
- dense: theta_0 of the offline MiniLM (6 layers, 12 heads, 1536 FFN units per layer);
- unstructured: global magnitude mask of theta_0 at the structured ticket's weight sparsity,
  zeros stored densely (what a weight-level ticket runs as today);
- shrunk: a structured mask (ticketlib.core.structured, mean-|w| ranking, allocation 'equal': a
  fraction f of the heads and f of the FFN neurons, each ranked within its kind) physically
  removed by ticketlib.core.shrink; its logits are checked against the masked model's;
- with --tickets, structured tickets found by a study (mask files or find_tickets run folders at
  their highest level) are measured the same way, tagged t1, t2, ... in the order given.
Inputs are real dev sentences of rt-sentiment: batch 1 (a median-length sentence) and batch
32 (a length-grouped batch). Variants are interleaved round by round in one process; medians
and ratios to dense are reported, and each model's size on disk (safetensors).

    .venv/bin/python benchmarks/structured_speed.py [--fractions 0.5 0.7] [--tickets MASK ...] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch
from safetensors.torch import save_model
from sparse_inference import median_latencies  # run as a script: benchmarks/ is on the path

from ticketlib.core.config import PrunableSet
from ticketlib.core.masker import Masker
from ticketlib.core.masks import magnitude_prune, sparsity
from ticketlib.core.prunable import prunable_state
from ticketlib.core.shrink import save_shrunk, shrink
from ticketlib.core.structured import coverage, structured_prune
from ticketlib.core.units import units_from_mask
from ticketlib.foundations.batching import Batches
from ticketlib.tasks.data import load_task_data
from ticketlib.tasks.models import OFFLINE_MODEL, load_model
from ticketlib.tickets.ticket import load_ticket

SPEC = PrunableSet(include_pooler=False)


def structured_mask(model, fraction: float):
    """A fraction f of the heads' weights and f of the neurons' (structured_allocation 'equal')."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return structured_prune(
            model, fraction * coverage(model, "heads+neurons", SPEC), "heads+neurons", SPEC, allocation="equal"
        )


def size_on_disk(model, folder: Path, shrunk_record=None) -> int:
    if shrunk_record is not None:
        save_shrunk(model, folder, shrunk_record)
        return (folder / "model.safetensors").stat().st_size
    save_model(model, str(folder / "model.safetensors"))
    return (folder / "model.safetensors").stat().st_size


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fractions", nargs="+", type=float, default=[0.5, 0.7])
    p.add_argument(
        "--tickets",
        nargs="*",
        default=[],
        help="structured tickets to measure too: mask files or find_tickets run folders (highest level)",
    )
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=10, help="forward passes per variant per round")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    theta0, tokenizer, info = load_model(OFFLINE_MODEL, "rt-sentiment", seed=0)
    data = load_task_data("rt-sentiment", "offline", tokenizer, max_length=128, max_eval_examples=872)
    features = sorted(data.eval_features, key=lambda f: len(f["input_ids"]))
    middle = len(features) // 2
    batch_32 = next(iter(Batches(features[middle - 16 : middle + 16], 32, pad_token_id=data.pad_token_id)))[1]
    batch_1 = next(iter(Batches([features[middle]], 1, pad_token_id=data.pad_token_id)))[1]
    inputs = {
        "batch1": {k: v for k, v in batch_1.items() if k != "labels"},
        "batch32": {k: v for k, v in batch_32.items() if k != "labels"},
    }
    models = {"dense": theta0}
    results = {
        "benchmark": "structured_speed",
        "model": OFFLINE_MODEL,
        "tokens": {k: list(v["input_ids"].shape) for k, v in inputs.items()},
        "tickets": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="structured_speed_"))
    sizes = {"dense": size_on_disk(theta0, tmp)}
    masks = {f"f{round(100 * f)}": (structured_mask(theta0, f), {"unit_fraction": f}) for f in args.fractions}
    for n, path in enumerate(args.tickets, 1):
        masks[f"t{n}"] = (load_ticket(path).mask, {"ticket": str(path)})
    for tag, (mask, about) in masks.items():
        weight_sparsity = sparsity(mask)
        masked = copy.deepcopy(theta0)
        Masker(masked, mask, SPEC).apply()
        shrunk = copy.deepcopy(masked)
        record = shrink(shrunk, mask=mask, spec=SPEC)
        unstructured = copy.deepcopy(theta0)
        Masker(unstructured, magnitude_prune(prunable_state(theta0, SPEC), weight_sparsity), SPEC).apply()
        with torch.inference_mode():
            diff = max((shrunk(**x).logits - masked(**x).logits).abs().max().item() for x in inputs.values())
        units = units_from_mask(mask, theta0, SPEC)
        results["tickets"][tag] = {
            **about,
            "weight_sparsity": round(weight_sparsity, 4),
            "heads_kept": int(sum(int(h.sum()) for h in units.heads)),
            "heads_total": 72,
            "neurons_kept": int(sum(int(n.sum()) for n in units.neurons)),
            "neurons_total": 6 * 1536,
            "heads_per_layer": record["num_attention_heads"],
            "neurons_per_layer": record["intermediate_sizes"],
            "max_abs_logit_difference_shrunk_vs_masked": float(f"{diff:.3g}"),
        }
        models[f"{tag}/unstructured"] = unstructured
        models[f"{tag}/shrunk"] = shrunk
        (tmp / tag).mkdir()
        sizes[f"{tag}/shrunk"] = size_on_disk(shrunk, tmp / tag, record)
        sizes[f"{tag}/unstructured"] = sizes["dense"]  # zeros stored densely
    for m in models.values():
        m.eval()
    median_ms = median_latencies(models, inputs, args.rounds, args.repeats)
    results["latency_ms_median"] = median_ms
    results["speedup_over_dense"] = {
        f"{n}/{k}": round(median_ms[f"dense/{k}"] / median_ms[f"{n}/{k}"], 3)
        for (n, k) in (key.rsplit("/", 1) for key in median_ms)
        if n != "dense"
    }
    results["size_on_disk_bytes"] = sizes
    results.update(
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        loadavg=os.getloadavg(),
        date=time.strftime("%Y-%m-%d %H:%M"),
        rounds=args.rounds,
        repeats=args.repeats,
    )
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
