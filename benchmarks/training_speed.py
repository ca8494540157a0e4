"""Training speed, side by side in one process: ticketlib masked vs dense vs torch.nn.utils.prune
vs Hugging Face Trainer, and dynamic padding vs padding to the maximum length.

Every variant trains the offline MiniLM model on the offline sentiment task with the same
batch size, max length, optimizer (AdamW, eps 1e-8, weight decay 0), clipping (1.0) and
linear schedule. The ticketlib variants run `ticketlib.core.train.fine_tune` itself (the
library's loop); "torch_prune" runs the same loop on a model re-parametrised by
`torch.nn.utils.prune.custom_from_mask` (weight = weight_orig * mask on every forward, how
the reference code masks); "hf_trainer" is `transformers.Trainer` on the dense model with
`DataCollatorWithPadding` and `train_sampling_strategy="group_by_length"` (equal settings). Padding variants run
the masked loop with random batches (dynamic padding) and with every sequence padded to
`--max-length` (the reference's default). All variants train one shared model instance, the
very same weight tensors (`--separate-models` loads one per variant).

Seconds per step are the gaps between consecutive step-end callbacks (so batch collation
and data loading are included, the first step of each call, optimizer-state set-up, is
not). Variants are interleaved round by round so that machine noise hits them alike;
medians and ratios are reported. Rounds are short (a few steps per variant, in a shuffled
order each round) so that a change of machine load hits every variant.

With `--epoch-examples N` every round instead trains each variant for exactly one epoch over
the same seeded N-example subset and times the whole training call (`fine_tune` or
`Trainer.train()`, optimizer set-up included): every variant sees the same sentences once,
each batched by its own length-grouped sampler, so the comparison with Trainer does not
depend on which batches a few timed steps happen to get (its sampler puts the longest first).
Padded tokens per epoch are recorded for every variant.

    .venv/bin/python benchmarks/training_speed.py [--steps 2] [--rounds 15] [--num-layers 6]
    .venv/bin/python benchmarks/training_speed.py --epoch-examples 512 --variants dense masked hf_trainer
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
import warnings

import torch
from torch.nn.utils import prune

from ticketlib.core.config import PrunableSet, TrainConfig
from ticketlib.core.masker import Masker
from ticketlib.core.masks import magnitude_prune
from ticketlib.core.prunable import prunable_state
from ticketlib.core.train import fine_tune
from ticketlib.foundations.batching import Batches
from ticketlib.tasks.data import load_task_data
from ticketlib.tasks.models import OFFLINE_MODEL, load_model

SPEC = PrunableSet(include_pooler=False)
LOOP_VARIANTS = {  # name: (masking, group_by_length, pad to max length)
    "dense": ("none", True, False),
    "masked": ("masker", True, False),
    # The Masker doing all its work with a mask that keeps everything: the same arithmetic as
    # dense, so its ratio to dense is the masking machinery's cost alone.
    "masked_all_ones": ("masker_all_ones", True, False),
    "torch_prune": ("torch_prune", True, False),
    "masked_random_batches": ("masker", False, False),
    "masked_pad_to_max": ("masker", False, True),
}


def step_gaps(run) -> list[float]:
    """Run `run(on_step)` and return the seconds between consecutive step ends."""
    marks: list[float] = []
    run(lambda *_: marks.append(time.perf_counter()))
    return [b - a for a, b in zip(marks, marks[1:])]


def epoch_subset(features, n: int, seed: int) -> list:
    """The same n examples for every variant in a round (original order; each sampler shuffles)."""
    return [features[i] for i in sorted(random.Random(seed).sample(range(len(features)), n))]


def timed_call(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def weight_owners(model, mask) -> dict:
    """{mask key: the module whose `weight` it masks}."""
    return {key: model.base_model.get_submodule(key.rpartition(".")[0]) for key in mask}


def reparametrise(model, mask) -> None:
    """Mask the way the reference code does: weight = weight_orig * mask before every forward."""
    for key, module in weight_owners(model, mask).items():
        prune.custom_from_mask(module, "weight", mask[key])


def restore_parameters(model, mask) -> None:
    """Undo `reparametrise`, making each `weight_orig` Parameter the plain `weight` again with its
    storage untouched (`prune.remove` would copy it into new memory), so that the variants
    sharing a model train the very same tensors (its pruned entries are zeroed by the next
    masked round, or trained by a dense one, which costs a dense matmul the same)."""
    for module in weight_owners(model, mask).values():
        for hook_id, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, prune.BasePruningMethod):
                del module._forward_pre_hooks[hook_id]
        orig = module._parameters.pop("weight_orig")
        del module._buffers["weight_mask"]
        delattr(module, "weight")
        module.weight = orig


def pad_to(features, width: int, pad_token_id: int):
    out = []
    for f in features:
        g = dict(f)
        for key, pad in (("input_ids", pad_token_id), ("attention_mask", 0), ("token_type_ids", 0)):
            if key in g:
                g[key] = list(g[key]) + [pad] * (width - len(g[key]))
        out.append(g)
    return out


class LoopVariant:
    def __init__(self, name, args, data, mask, model=None):
        masking, self.group, pad_max = LOOP_VARIANTS[name]
        self.model = model or load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=args.num_layers, seed=0)[0]
        self.features = (
            pad_to(data.train_features, args.max_length, data.pad_token_id) if pad_max else data.train_features
        )
        self.pad = data.pad_token_id
        self.masker = None
        self.prune_mask = mask if masking == "torch_prune" else None
        if masking in ("masker", "masker_all_ones"):
            keep = mask if masking == "masker" else {k: torch.ones_like(m) for k, m in mask.items()}
            self.masker = Masker(self.model, keep, SPEC)
        self.args = args
        self.tokens = []

    def round(self, seed):
        return self._with_masking_method(lambda: self._train(seed))

    def train_steps(self, n, seed=0, on_step=None):
        """n plain training steps (for the profiler)."""
        config = self._config(seed, max_steps=n)
        self._with_masking_method(
            lambda: fine_tune(
                self.model, self.features, config, masker=self.masker, on_step=on_step, pad_token_id=self.pad
            )
        )

    def _config(self, seed, **budget) -> TrainConfig:
        return TrainConfig(
            learning_rate=2e-5,
            batch_size=self.args.batch_size,
            group_by_length=self.group,
            seed=seed,
            progress=False,
            **budget,
        )

    def _with_masking_method(self, train):
        """train(), with the model re-parametrised by torch.nn.utils.prune for this call only if
        this is the torch_prune variant (the model may be shared)."""
        if self.prune_mask is None:
            return train()
        reparametrise(self.model, self.prune_mask)
        try:
            return train()
        finally:
            restore_parameters(self.model, self.prune_mask)

    def _train(self, seed):
        if self.args.epoch_examples:
            features = epoch_subset(self.features, self.args.epoch_examples, seed)
            config = self._config(seed, epochs=1)
            self.tokens.append(
                sum(
                    b["input_ids"].numel()
                    for _, b in Batches(
                        features,
                        self.args.batch_size,
                        shuffle=True,
                        seed=seed,
                        group_by_length=self.group,
                        pad_token_id=self.pad,
                    )
                )
            )
            return [
                timed_call(lambda: fine_tune(self.model, features, config, masker=self.masker, pad_token_id=self.pad))
            ]
        config = self._config(seed, max_steps=self.args.steps + 1)
        return step_gaps(
            lambda on_step: fine_tune(
                self.model, self.features, config, masker=self.masker, on_step=on_step, pad_token_id=self.pad
            )
        )

    def mean_width(self, seed=0):
        b = Batches(
            self.features,
            self.args.batch_size,
            shuffle=True,
            seed=seed,
            group_by_length=self.group,
            pad_token_id=self.pad,
        )
        widths, real, total = [], 0, 0
        for _, batch in b:
            widths.append(batch["input_ids"].shape[1])
            real += int(batch["attention_mask"].sum())
            total += batch["attention_mask"].numel()
        return statistics.mean(widths), 1 - real / total


class TrainerVariant:
    def __init__(self, args, data, tokenizer, model=None):
        from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

        self.Trainer, self.TrainingArguments, self.Callback = Trainer, TrainingArguments, TrainerCallback
        collate = DataCollatorWithPadding(tokenizer)
        self.widths, self.real, self.total = [], 0, 0

        def collator(features):  # the Trainer's own collator, recording how much of each batch is padding
            batch = collate(features)
            self.widths.append(batch["input_ids"].shape[1])
            self.real += int(batch["attention_mask"].sum())
            self.total += batch["attention_mask"].numel()
            return batch

        self.collator = collator
        self.model = model or load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=args.num_layers, seed=0)[0]
        self.features = data.train_features
        self.args = args
        self.tokens = []
        self.tmp = tempfile.mkdtemp(prefix="bench-trainer-")

    def round(self, seed):
        marks: list[float] = []

        class Mark(self.Callback):
            def on_step_end(self, *_, **__):
                marks.append(time.perf_counter())

        epoch = bool(self.args.epoch_examples)
        features = epoch_subset(self.features, self.args.epoch_examples, seed) if epoch else self.features
        targs = self.TrainingArguments(
            output_dir=self.tmp,
            per_device_train_batch_size=self.args.batch_size,
            max_steps=-1 if epoch else self.args.steps + 1,
            num_train_epochs=1,
            learning_rate=2e-5,
            weight_decay=0.0,
            adam_epsilon=1e-8,
            max_grad_norm=1.0,
            lr_scheduler_type="linear",
            warmup_steps=0,
            train_sampling_strategy="group_by_length",
            seed=seed,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            use_cpu=True,
            dataloader_num_workers=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer = self.Trainer(
                model=self.model, args=targs, train_dataset=features, data_collator=self.collator, callbacks=[Mark()]
            )
            tokens_before = self.total
            seconds = timed_call(trainer.train)
        if epoch:
            self.tokens.append(self.total - tokens_before)
            return [seconds]
        return [b - a for a, b in zip(marks, marks[1:])]


def masking_ops_in_steps(variants: dict, mask, steps: int = 8) -> dict:
    """Milliseconds per training step of self CPU time (torch.profiler, inside real `fine_tune`
    steps, the first two of each call left out) spent in elementwise multiplications of
    weight-shaped tensors: the work by which the masking methods differ. The Masker multiplies
    each gradient by its mask in backward; torch.nn.utils.prune computes weight_orig * mask
    before every forward and multiplies the gradient by the mask in backward. Every variant
    also pays gradient clipping's scaling of the gradients, the dense row, so a method's own
    cost is its row minus dense's. Total self CPU time per step is given for scale."""
    from torch.profiler import ProfilerActivity, profile, schedule

    shapes = {tuple(m.shape) for m in mask.values()}
    out = {}
    for name in ("dense", "masked", "torch_prune"):
        if name not in variants:
            continue
        with profile(
            activities=[ProfilerActivity.CPU], record_shapes=True, schedule=schedule(wait=1, warmup=1, active=steps)
        ) as prof:
            variants[name].train_steps(steps + 2, on_step=lambda *_: prof.step())
        events = prof.events()
        multiplies = sum(
            e.self_cpu_time_total
            for e in events
            if e.name in ("aten::mul", "aten::mul_") and e.input_shapes and tuple(e.input_shapes[0]) in shapes
        )
        out[name] = {
            "weight_shaped_multiplies_ms": round(multiplies / steps / 1e3, 2),
            "all_ops_ms": round(sum(e.self_cpu_time_total for e in events) / steps / 1e3, 1),
        }
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2, help="timed steps per variant per round")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--num-layers", type=int, default=None, help="default: all 6 of MiniLM")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--epoch-examples",
        type=int,
        default=None,
        help="time one whole epoch over the same N examples per variant per round (see above)",
    )
    p.add_argument(
        "--separate-models",
        action="store_true",
        help="load a model per variant (runs A-E did; F-J shared one among the ticketlib-loop variants "
        "only) instead of sharing one among all of them",
    )
    p.add_argument("--variants", nargs="+", default=[*LOOP_VARIANTS, "hf_trainer"])
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    reference, tokenizer, info = load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=args.num_layers, seed=0)
    data = load_task_data("rt-sentiment", "offline", tokenizer, max_length=args.max_length)
    mask = magnitude_prune(prunable_state(reference, SPEC), args.sparsity)
    # Every variant, torch_prune (re-parametrised for its rounds only) and Trainer included,
    # trains one shared model instance, so all of them train the very same weight tensors:
    # separately loaded copies of the same model train up to 3-6% apart on this CPU (measured),
    # more than the effects timed here. Its pruned entries hold whatever the last round left
    # (zeros after a masked round): a dense matmul costs the same either way.
    shared = (
        None
        if args.separate_models
        else load_model(OFFLINE_MODEL, "rt-sentiment", num_layers=args.num_layers, seed=0)[0]
    )
    variants = {
        name: (
            TrainerVariant(args, data, tokenizer, shared)
            if name == "hf_trainer"
            else LoopVariant(name, args, data, mask, shared)
        )
        for name in args.variants
    }
    times = {name: [] for name in variants}
    load_before = os.getloadavg()
    order = list(variants)
    shuffle = random.Random(0)
    for round_ in range(args.rounds):
        shuffle.shuffle(order)  # a fresh order each round: no variant always follows the same one
        for name in order:
            times[name] += variants[name].round(seed=round_)
        print(f"round {round_}: " + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in times.items()), flush=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = {f"{k}_over_dense": median[k] / median["dense"] for k in median if k != "dense" and "dense" in median}
    if "masked" in median:
        ratios.update({f"{k}_over_masked": median[k] / median["masked"] for k in median if k != "masked"})
    # Per-round ratios (epoch mode: one epoch per variant per round, run close together), whose
    # spread says how far the medians' ratios can be trusted.
    paired = {}
    if args.epoch_examples:
        for base in (b for b in ("dense", "masked") if b in times):
            for k in (k for k in times if k != base):
                r = [a / b for a, b in zip(times[k], times[base])]
                paired[f"{k}_over_{base}"] = {
                    "median": round(statistics.median(r), 3),
                    "quartiles": [round(q, 3) for q in statistics.quantiles(r, n=4)],
                    "per_round": [round(x, 3) for x in r],
                }
    widths = {k: v.mean_width() for k, v in variants.items() if isinstance(v, LoopVariant)}
    if "hf_trainer" in variants and variants["hf_trainer"].total:
        t = variants["hf_trainer"]
        widths["hf_trainer"] = (statistics.mean(t.widths), 1 - t.real / t.total)
    ops = masking_ops_in_steps({k: v for k, v in variants.items() if isinstance(v, LoopVariant)}, mask)
    result = {
        "benchmark": "training_speed",
        "model": OFFLINE_MODEL,
        "num_layers": info["num_layers"],
        "task": "rt-sentiment",
        "train_examples": len(data.train_features),
        "sparsity": args.sparsity,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "steps_per_variant": {k: len(v) for k, v in times.items()},
        "epoch_examples": args.epoch_examples,
        "separate_models": args.separate_models,
        "unit": "seconds per whole epoch (training call)" if args.epoch_examples else "seconds per step",
        "padded_tokens_per_epoch": {k: v.tokens for k, v in variants.items()} if args.epoch_examples else None,
        "seconds_per_step_median": {k: round(v, 4) for k, v in median.items()},
        "seconds_per_step_quartiles": {
            k: [round(q, 4) for q in statistics.quantiles(v, n=4)] for k, v in times.items()
        },
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "paired_ratios_per_round": paired or None,
        "masking_ops_ms_per_step_profiled": ops,
        "mean_batch_width_and_padding_fraction": {k: [round(w, 1), round(f, 3)] for k, (w, f) in widths.items()},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    import transformers

    result["transformers"] = transformers.__version__
    try:
        import accelerate

        result["accelerate"] = accelerate.__version__
    except ImportError:
        pass
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
