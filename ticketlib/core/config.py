"""The configurations below the code they configure: what is pruned (PrunableSet), the IMP
schedule (Schedule), a fine-tuning run (TrainConfig), pruning (PruneConfig), the early-bird
stopping rule (EarlyBird) and an IMP run (IMPConfig), defaults the paper's. ticketlib.core.train and
ticketlib.core.imp run them, ticketlib.tasks.params builds them from a Recipe. Each field's help text is in its metadata
(`metadata["help"]`); the Recipe and the command line reuse it. A leaf: it imports nothing
from ticketlib, so every layer can name a config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# How a classification or regression head pools the encoder's token states (ticketlib.core.pooling):
# named here, in a leaf without torch, so the Recipe and the command line load no torch.
POOLINGS = ("cls", "mean")

GRANULARITIES = ("weights", "heads", "neurons", "heads+neurons")
HEAD_POLICIES = ("reinit", "keep", "rewind")
UNIT_ALLOCATIONS = ("joint", "equal", "ratio")
UNIT_SCORES = ("magnitude", "taylor")
TAYLOR_BATCHES = 4  # the default of structured_score_batches (Wanda's calibration batches, ticketlib.core.wanda)


@dataclass(frozen=True)
class PrunableSet:
    """What is pruned.

    include_pooler: the paper's choice (True). Set False for checkpoints whose pooler was
        never trained (MiniLM-L6, trained with mean pooling: its pooler weights are 5-10x
        smaller than the encoder's, so global magnitude pruning removes it first and the
        classifier then sees a constant; see docs/method.md).
    exclude: regular expressions; matching parameter names are left out of the set.
    """

    include_pooler: bool = True
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """Target sparsity of each IMP level, as a fraction of the original prunable set.

    "paper": level k is k * rate (rate 0.1: 10%, 20%, ... 90%); the reference code gets
        there by pruning 1/(10 - k) of the remaining weights at step k.
    "fraction": open_lth's rule, prune `rate` (e.g. 0.2) of the remaining weights per level:
        1 - (1 - rate) ** k.
    """

    kind: Literal["paper", "fraction"] = "paper"
    rate: float = 0.1

    def __post_init__(self):
        if self.kind not in ("paper", "fraction"):
            raise ValueError(f"unknown pruning schedule {self.kind!r}; expected 'paper' or 'fraction'")
        if not 0 < self.rate < 1:
            raise ValueError(f"schedule rate must be in (0, 1), got {self.rate!r}")

    def sparsity(self, level: int) -> float:
        if level < 0:
            raise ValueError(f"level must be >= 0, got {level}")
        if self.kind == "paper":
            return round(level * self.rate, 12)
        return 1 - (1 - self.rate) ** level

    def max_levels(self) -> int:
        """Levels whose target stays below 100%."""
        return math.ceil(1 / self.rate) - 1 if self.kind == "paper" else 10**9


def check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}; expected one of {', '.join(GRANULARITIES)}")
    return granularity


def check_scope(scope: str) -> None:
    if scope not in ("global", "layerwise"):
        raise ValueError(f"unknown pruning scope {scope!r}; expected 'global' or 'layerwise'")


def structured_options_on(allocation: str, score: str) -> bool:
    """Whether the structured options change the masks (and so are part of a run's record)."""
    return allocation != "joint" or score != "magnitude"


def check_structured_options(
    granularity: str, allocation: str, head_ratio: float, score: str, score_batches: int
) -> None:
    """Clear errors for the structured options, before anything runs; an option that would be
    ignored is an error too (it would give a second run id to the same masks)."""
    if allocation not in UNIT_ALLOCATIONS:
        raise ValueError(f"unknown structured_allocation {allocation!r}; expected one of {', '.join(UNIT_ALLOCATIONS)}")
    if score not in UNIT_SCORES:
        raise ValueError(f"unknown structured_score {score!r}; expected one of {', '.join(UNIT_SCORES)}")
    if isinstance(head_ratio, bool) or not isinstance(head_ratio, (int, float)) or not 0 < head_ratio < math.inf:
        raise ValueError(f"structured_head_ratio must be a number > 0, got {head_ratio!r}")
    if isinstance(score_batches, bool) or not isinstance(score_batches, int) or score_batches < 1:
        raise ValueError(f"structured_score_batches must be an integer >= 1, got {score_batches!r}")
    if head_ratio != 1.0 and allocation != "ratio":
        raise ValueError(
            f"structured_head_ratio {head_ratio!r} is used only with structured_allocation 'ratio' (got {allocation!r})"
        )
    if score_batches != TAYLOR_BATCHES and score != "taylor":
        raise ValueError(
            f"structured_score_batches {score_batches!r} is used only with structured_score 'taylor' (got {score!r})"
        )
    if granularity == "weights" and structured_options_on(allocation, score):
        raise ValueError(
            "structured_allocation and structured_score rank whole units: they need granularity "
            "'heads', 'neurons' or 'heads+neurons', not 'weights'"
        )
    if allocation != "joint" and granularity != "heads+neurons":
        raise ValueError(
            f"structured_allocation {allocation!r} splits the target between heads and neurons: it "
            f"needs granularity 'heads+neurons', not {granularity!r}"
        )


@dataclass
class TrainConfig:
    """Hyperparameters of one fine-tuning run (defaults: the paper's GLUE recipe). Each field's
    help text is in its metadata (`metadata["help"]`); the Recipe (ticketlib.tasks.params) and
    the command line reuse it.

    schedule_horizon "run" is the reference code's quirk: one linear schedule over the whole IMP
    run (all levels), so the rate barely decays within a level; the IMP driver passes the offset
    and length of that whole-run horizon.
    adamw_impl "torch_default" (torch's per-tensor for-loop on CPU) also slows down on zeros: its
    sqrt of a zero second moment, i.e. of every pruned weight, is several times slower than of a
    non-zero one on this CPU (measured in benchmarks/README.md); "fused" and "torch_default" agree
    up to float rounding, not bit for bit.
    """

    learning_rate: float = field(default=2e-5, metadata={"help": "peak learning rate of AdamW (paper: 2e-5 on GLUE)"})
    epochs: float = field(
        default=3.0,
        metadata={"help": "passes over the training set per fine-tuning run (ignored when max_steps is set)"},
    )
    max_steps: int | None = field(
        default=None, metadata={"help": "optimizer steps per fine-tuning run; overrides epochs when set"}
    )
    batch_size: int = field(default=32, metadata={"help": "examples per optimizer step"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warm-up steps before the linear decay"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (never on biases and LayerNorm)"})
    adam_eps: float = field(default=1e-8, metadata={"help": "AdamW epsilon"})
    adam_betas: tuple[float, float] = field(default=(0.9, 0.999), metadata={"help": "AdamW betas"})
    max_grad_norm: float | None = field(default=1.0, metadata={"help": "gradient clipping norm (None: no clipping)"})
    schedule_horizon: Literal["level", "run"] = field(
        default="level",
        metadata={
            "help": "what the linear decay spans: 'level' (each fine-tuning run decays to zero) or 'run' "
            "(the reference code: one schedule over all IMP levels)"
        },
    )
    group_by_length: bool = field(default=True, metadata={"help": "batch examples of similar length (dynamic padding)"})
    seed: int = field(default=0, metadata={"help": "seed of the data order and dropout"})
    eval_every: int | None = field(
        default=None, metadata={"help": "evaluate every n steps as well (None: at the end only)"}
    )
    device: str = field(
        default="auto", metadata={"help": "'auto' (CUDA when present, else CPU) or a torch device ('cpu', 'cuda:0')"}
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        default="auto", metadata={"help": "'auto': bf16 autocast on CUDA when supported, fp32 elsewhere"}
    )
    adamw_impl: Literal["fused", "torch_default"] = field(
        default="fused",
        metadata={
            "help": "AdamW kernel: 'fused' (one fused kernel per step) or 'torch_default' (torch's per-tensor "
            "loop, slow on pruned weights)"
        },
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps!r}")
        if self.max_steps is None and not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError("warmup_steps and weight_decay must be >= 0")
        if self.schedule_horizon not in ("level", "run"):
            raise ValueError(f"schedule_horizon must be 'level' or 'run', got {self.schedule_horizon!r}")
        if self.adamw_impl not in ("fused", "torch_default"):
            raise ValueError(f"adamw_impl must be 'fused' or 'torch_default', got {self.adamw_impl!r}")
        self.adam_betas = tuple(self.adam_betas)

    def steps(self, n_examples: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return max(1, math.ceil(self.epochs * math.ceil(n_examples / self.batch_size)))


@dataclass
class PruneConfig:
    """What is pruned, how, and on which schedule (defaults: the paper's). Each field's help text
    is in its metadata; ticketlib.tasks.params.Recipe and the command line reuse it."""

    levels: int = field(
        default=9, metadata={"help": "pruning levels after the dense level 0 (paper: 9, i.e. 10% ... 90%)"}
    )
    schedule: Literal["paper", "fraction"] = field(
        default="paper",
        metadata={
            "help": "'paper': level k prunes k * rate of the original set; 'fraction': open_lth's rate of the "
            "remaining weights per level (see config.Schedule)"
        },
    )
    rate: float = field(default=0.1, metadata={"help": "pruning rate per level (see schedule)"})
    scope: Literal["global", "layerwise"] = field(
        default="global",
        metadata={"help": "magnitude ranking across all matrices ('global', the paper) or within each ('layerwise')"},
    )
    include_pooler: bool = field(
        default=True, metadata={"help": "prune the pooler too (the paper does; see config.PrunableSet)"}
    )
    exclude: tuple[str, ...] = field(default=(), metadata={"help": "parameter names left out of the prunable set"})
    granularity: str = field(
        default="weights",
        metadata={
            "help": "what is pruned: 'weights' (the paper), or whole 'heads', 'neurons' (FFN units) or "
            "'heads+neurons', ranked by mean |w|; the schedule then counts the weights the units "
            "cover (see ticketlib.core.structured)"
        },
    )
    # Structured options: recorded (manifest, run identity) only when one of them changes the masks,
    # so the structured runs made before they existed keep their manifests and ids.
    structured_allocation: Literal["joint", "equal", "ratio"] = field(
        default="joint",
        metadata={
            "help": "heads+neurons: 'joint' ranks heads and neurons together by their score; 'equal' prunes each "
            "kind to the same fraction of its own weights; 'ratio' prunes heads at structured_head_ratio "
            "times the neurons' fraction",
            "record_if": "structured_options_on",
        },
    )
    structured_head_ratio: float = field(
        default=1.0,
        metadata={
            "help": "with structured_allocation 'ratio': the heads' pruned fraction of their weights divided by "
            "the neurons' (0.5: heads at half the neurons' rate)",
            "record_if": "structured_options_on",
        },
    )
    structured_score: Literal["magnitude", "taylor"] = field(
        default="magnitude",
        metadata={
            "help": "unit score: 'magnitude' (mean |w| over the unit's weights) or 'taylor' (mean |w| x the "
            "|gradient| summed over structured_score_batches training batches, a first-order estimate "
            "of the loss change)",
            "record_if": "structured_options_on",
        },
    )
    structured_score_batches: int = field(
        default=TAYLOR_BATCHES,
        metadata={
            "help": "with structured_score 'taylor': training batches the gradients are summed over",
            "record_if": "structured_options_on",
        },
    )

    @property
    def structured_options_on(self) -> bool:
        return structured_options_on(self.structured_allocation, self.structured_score)

    def __post_init__(self):
        check_granularity(self.granularity)
        check_structured_options(
            self.granularity,
            self.structured_allocation,
            self.structured_head_ratio,
            self.structured_score,
            self.structured_score_batches,
        )
        if self.levels < 1:
            raise ValueError(f"levels must be >= 1, got {self.levels!r}")
        check_scope(self.scope)
        self.exclude = tuple(self.exclude)
        if self.levels > self.to_schedule().max_levels():
            raise ValueError(f"levels={self.levels} would reach 100% sparsity with rate {self.rate}")

    def to_schedule(self) -> Schedule:
        return Schedule(self.schedule, self.rate)

    def spec(self) -> PrunableSet:
        return PrunableSet(include_pooler=self.include_pooler, exclude=self.exclude)


@dataclass(frozen=True)
class EarlyBird:
    """Early-bird tickets (You et al. 2020, "Drawing early-bird tickets"): when a level below the
    last stops training. Every `every` steps the next level's mask is drawn from the current
    weights, exactly as the level's end would prune; the level stops once `patience` consecutive
    draws differ by less than `epsilon` (ticketlib.core.early_bird). Defaults: the paper's (a draw per
    epoch, epsilon 0.1, 5 distances below it in a row). Help text in each field's metadata.
    """

    every: int | None = field(
        default=None,
        metadata={
            "help": "optimizer steps between two draws of the next level's mask (None: once per epoch, the paper)"
        },
    )
    epsilon: float = field(
        default=0.1,
        metadata={
            "help": "two consecutive draws count as settled when the fraction of prunable weights kept in one and "
            "pruned in the other (normalised Hamming distance) is below this (paper: 0.1)"
        },
    )
    patience: int = field(
        default=5,
        metadata={
            "help": "consecutive settled draws that stop a level's training (paper: 5, its queue of mask distances)"
        },
    )
    evaluate_levels: bool = field(
        default=False,
        metadata={
            "help": "evaluate the levels that stop early too, at their stopping point (default: only the final "
            "level, trained to its full budget, is evaluated)"
        },
    )

    def __post_init__(self):
        def integer(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if self.every is not None and not (integer(self.every) and self.every >= 1):
            raise ValueError(f"early-bird every (early_bird_every) must be an integer >= 1 or None, got {self.every!r}")
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, float)) or not 0 <= self.epsilon < 1:
            raise ValueError(
                f"early-bird epsilon (early_bird_epsilon) must be a number in [0, 1), got {self.epsilon!r}"
            )
        if not (integer(self.patience) and self.patience >= 1):
            raise ValueError(
                f"early-bird patience (early_bird_patience) must be an integer >= 1, got {self.patience!r}"
            )


@dataclass
class IMPConfig:
    """One IMP run (defaults: the paper's; help text in each field's metadata). The early-bird
    fields are recorded (manifest, JSON) only when `early_bird` is on, so a run without it keeps
    the manifest it had before the option existed."""

    prune: PruneConfig = field(default_factory=PruneConfig, metadata={"help": "what is pruned, how, and when"})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "each level's fine-tuning"})
    head_policy: Literal["reinit", "keep", "rewind"] = field(
        default="reinit",
        metadata={
            "help": "the task head between IMP levels: 'reinit' (a fresh seeded head), 'keep' (the trained head, "
            "as the reference code) or 'rewind' (the level-0 initial head)"
        },
    )
    rewind_step: int = field(
        default=0,
        metadata={
            "help": "0 rewinds to the pre-trained theta_0 (the paper); "
            "i > 0 to theta_i, the weights after i fine-tuning steps"
        },
    )
    early_bird: bool = field(
        default=False,
        metadata={
            "help": "early-bird tickets (You et al. 2020): stop each level below the last once its next mask has "
            "settled, then prune and rewind as usual; off: every level trains its full budget (the paper)",
            "record_if": "early_bird",
        },
    )
    early_bird_options: EarlyBird = field(
        default_factory=EarlyBird,
        metadata={
            "help": "the early-bird stopping rule (config.EarlyBird), used when early_bird is on",
            "record_if": "early_bird",
        },
    )

    def __post_init__(self):
        if self.head_policy not in HEAD_POLICIES:
            raise ValueError(f"unknown head_policy {self.head_policy!r}; expected one of {HEAD_POLICIES}")
        if self.rewind_step < 0:
            raise ValueError(f"rewind_step must be >= 0, got {self.rewind_step!r}")
        if not isinstance(self.early_bird_options, EarlyBird):
            raise ValueError(f"early_bird_options must be a config.EarlyBird, got {self.early_bird_options!r}")
