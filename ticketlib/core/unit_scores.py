"""The units of structured pruning and their scores (ticketlib.core.structured prunes by them).

A unit is an attention head or an FFN neuron of an encoder layer; `layout` reads each layer's
units from its modules and `LayerShape` says which weights a unit owns (head h: rows
h*d ... (h+1)*d - 1 of query, key and value and the same columns of the attention output; neuron
j: row j of the FFN input and column j of the FFN output).

Scores, one per unit, are means over the unit's weights (a sum divided by its weight count), so
that a head (4*d*hidden weights) and a neuron (2*hidden) are comparable when ranked together:

- "magnitude": mean |w|.
- "taylor": mean |w| * G, where G = sum over a few training batches b of |dL_b/dw| (what
  ticketlib.core.train.gradient_totals returns). |w * g_b| is the first-order estimate of the change
  in batch b's loss when w is set to zero; summing absolute values per batch, not the gradient
  first, keeps a weight whose gradients cancel over batches (as they tend to after fine-tuning,
  near a minimum) from scoring zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from ticketlib.core.config import PrunableSet
from ticketlib.core.prunable import base_model, prunable_parameters

ATTENTION = ("attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight")
ATTENTION_OUT = "attention.output.dense.weight"
FFN_IN, FFN_OUT = "intermediate.dense.weight", "output.dense.weight"
OWNED = ATTENTION + (ATTENTION_OUT, FFN_IN, FFN_OUT)  # the matrices units own, per layer


@dataclass(frozen=True)
class LayerShape:
    """One encoder layer's units: heads of `head_size` rows each, `neurons` FFN units."""

    index: int
    heads: int
    head_size: int
    neurons: int
    hidden: int

    def key(self, suffix: str) -> str:
        return f"encoder.layer.{self.index}.{suffix}"

    def count(self, kind: str) -> int:
        return self.heads if kind == "heads" else self.neurons

    def unit_weights(self, kind: str) -> int:
        """Prunable weights one unit owns: 4*d*hidden for a head, 2*hidden for a neuron."""
        return 4 * self.head_size * self.hidden if kind == "heads" else 2 * self.hidden


def layout(model: nn.Module, spec: PrunableSet = PrunableSet()) -> list[LayerShape]:
    """Per encoder layer, its head count, head size and neuron count (read from the modules,
    so a shrunk model with fewer heads in some layers is described correctly). Every matrix a
    unit owns must be in the prunable set."""
    params = prunable_parameters(model, spec)
    shapes = []
    for index, layer in enumerate(base_model(model).encoder.layer):
        attention = layer.attention.self
        shape = LayerShape(
            index,
            int(attention.num_attention_heads),
            int(attention.attention_head_size),
            int(layer.intermediate.dense.out_features),
            int(layer.output.dense.out_features),
        )
        for suffix in OWNED:
            if shape.key(suffix) not in params:
                raise ValueError(
                    f"structured pruning needs '{shape.key(suffix)}' in the prunable set "
                    "(PrunableSet.exclude removed it)"
                )
        shapes.append(shape)
    return shapes


def unit_sums(values: Callable[[str], torch.Tensor], shape: LayerShape, kind: str) -> torch.Tensor:
    """Per unit of `kind` in the layer, the sum of a per-weight quantity over the weights it owns;
    `values(suffix)` gives that quantity for the layer's matrix `suffix` (same shape as the matrix)."""
    if kind == "heads":
        total = sum(values(s).reshape(shape.heads, -1).sum(dim=1) for s in ATTENTION)
        return total + values(ATTENTION_OUT).reshape(shape.hidden, shape.heads, -1).sum(dim=(0, 2))
    return values(FFN_IN).sum(dim=1) + values(FFN_OUT).sum(dim=0)


@torch.no_grad()
def magnitude_scores(model: nn.Module, shape: LayerShape, kind: str) -> torch.Tensor:
    """Mean |w| over each unit's weights (its L1 norm / its weight count)."""
    base = dict(base_model(model).named_parameters())

    def weight(suffix):
        return base[shape.key(suffix)].detach().abs().float().cpu()

    return unit_sums(weight, shape, kind) / shape.unit_weights(kind)


def check_gradients(
    gradients: Mapping[str, torch.Tensor] | None, shapes: list[LayerShape], model: nn.Module
) -> Mapping[str, torch.Tensor]:
    """The Taylor score's gradient totals must cover every matrix a unit owns, shape for shape."""
    if gradients is None:
        raise ValueError(
            "ranking criterion 'taylor' needs gradient totals (gradients=, e.g. from "
            "ticketlib.core.train.gradient_totals)"
        )
    base = dict(base_model(model).named_parameters())
    for shape in shapes:
        for suffix in OWNED:
            key = shape.key(suffix)
            if key not in gradients:
                raise ValueError(f"the gradient totals miss '{key}'")
            if tuple(gradients[key].shape) != tuple(base[key].shape):
                raise ValueError(
                    f"the gradient totals of '{key}' have shape {tuple(gradients[key].shape)}, "
                    f"the weight {tuple(base[key].shape)}"
                )
    return gradients


@torch.no_grad()
def taylor_scores(
    model: nn.Module, shape: LayerShape, kind: str, gradients: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """Mean |w| * G over each unit's weights, G the summed |gradient| per weight (module docstring)."""
    base = dict(base_model(model).named_parameters())

    def saliency(suffix):
        key = shape.key(suffix)
        return base[key].detach().abs().float().cpu() * gradients[key].detach().abs().float().cpu()

    return unit_sums(saliency, shape, kind) / shape.unit_weights(kind)
