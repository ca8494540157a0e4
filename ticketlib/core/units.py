"""A unit mask (`Units`): per encoder layer, one bool per attention head and one per FFN neuron,
True = kept (ticketlib.core.structured says which weights a unit owns). It expands to an ordinary
weight mask over the prunable matrices (`expand`), is recovered from one (`units_from_mask`: a
unit is pruned iff all its weights are), and travels in a mask file's metadata as JSON lists of
pruned indices per layer (`unit_metadata`, `units_from_metadata`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from ticketlib.core.config import PrunableSet, check_granularity
from ticketlib.core.masks import Mask, full_mask
from ticketlib.core.prunable import prunable_parameters
from ticketlib.core.unit_scores import ATTENTION, ATTENTION_OUT, FFN_IN, FFN_OUT, LayerShape, layout


@dataclass
class Units:
    """A unit mask: per layer, bool[heads] and bool[neurons], True = kept."""

    heads: list[torch.Tensor]
    neurons: list[torch.Tensor]

    @classmethod
    def full(cls, shapes: list[LayerShape]) -> "Units":
        return cls(
            [torch.ones(s.heads, dtype=torch.bool) for s in shapes],
            [torch.ones(s.neurons, dtype=torch.bool) for s in shapes],
        )

    def get(self, kind: str) -> list[torch.Tensor]:
        return self.heads if kind == "heads" else self.neurons

    def pruned(self) -> dict[str, list[list[int]]]:
        """Pruned indices per layer, for each kind (what goes into mask metadata)."""
        return {
            kind: [torch.nonzero(~kept).flatten().tolist() for kept in self.get(kind)] for kind in ("heads", "neurons")
        }

    def to_json(self) -> str:
        sizes = {"heads": [len(k) for k in self.heads], "neurons": [len(k) for k in self.neurons]}
        return json.dumps({"pruned": self.pruned(), "sizes": sizes}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Units":
        data = json.loads(text)
        built = {}
        for kind in ("heads", "neurons"):
            built[kind] = []
            for size, pruned in zip(data["sizes"][kind], data["pruned"][kind], strict=True):
                kept = torch.ones(size, dtype=torch.bool)
                kept[pruned] = False
                built[kind].append(kept)
        return cls(built["heads"], built["neurons"])

    def __eq__(self, other) -> bool:
        return isinstance(other, Units) and all(
            len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
            for a, b in ((self.heads, other.heads), (self.neurons, other.neurons))
        )


def expand(units: Units, model: nn.Module, spec: PrunableSet = PrunableSet()) -> Mask:
    """The weight mask of a unit mask over `model`'s prunable set (anything not owned by a
    unit, e.g. the pooler, is kept)."""
    shapes = layout(model, spec)
    mask = full_mask(prunable_parameters(model, spec))
    for shape in shapes:
        heads, neurons = units.heads[shape.index], units.neurons[shape.index]
        if len(heads) != shape.heads or len(neurons) != shape.neurons:
            raise ValueError(
                f"unit mask does not fit layer {shape.index}: {len(heads)} heads and "
                f"{len(neurons)} neurons, the model has {shape.heads} and {shape.neurons}"
            )
        rows = heads.repeat_interleave(shape.head_size)
        for suffix in ATTENTION:
            mask[shape.key(suffix)] &= rows[:, None]
        mask[shape.key(ATTENTION_OUT)] &= rows[None, :]
        mask[shape.key(FFN_IN)] &= neurons[:, None]
        mask[shape.key(FFN_OUT)] &= neurons[None, :]
    return mask


def units_from_mask(mask: Mapping[str, torch.Tensor], model: nn.Module, spec: PrunableSet = PrunableSet()) -> Units:
    """The units a weight mask prunes entirely (a unit is pruned iff all its weights are)."""
    heads, neurons = [], []
    for shape in layout(model, spec):
        alive = torch.zeros(shape.heads, dtype=torch.bool)
        for suffix in ATTENTION:
            alive |= mask[shape.key(suffix)].reshape(shape.heads, -1).any(dim=1)
        alive |= mask[shape.key(ATTENTION_OUT)].reshape(shape.hidden, shape.heads, -1).any(dim=2).any(dim=0)
        heads.append(alive)
        neurons.append(mask[shape.key(FFN_IN)].any(dim=1) | mask[shape.key(FFN_OUT)].any(dim=0))
    return Units(heads, neurons)


def is_structured(mask: Mapping[str, torch.Tensor], model: nn.Module, spec: PrunableSet = PrunableSet()) -> bool:
    """Whether every pruned weight belongs to a wholly pruned unit (the mask is a unit mask's expansion)."""
    expanded = expand(units_from_mask(mask, model, spec), model, spec)
    return all(torch.equal(expanded[k], mask[k].to(torch.bool)) for k in expanded if k in mask)


def unit_metadata(
    mask: Mapping[str, torch.Tensor], model: nn.Module, granularity: str, spec: PrunableSet = PrunableSet()
) -> dict[str, str]:
    """Mask-file metadata for a structured mask: the granularity and the unit mask (JSON);
    nothing for weights."""
    if check_granularity(granularity) == "weights":
        return {}
    return {"granularity": granularity, "units": units_from_mask(mask, model, spec).to_json()}


def units_from_metadata(meta: Mapping[str, str]) -> Units | None:
    """The unit mask stored by `unit_metadata`, or None for an unstructured mask."""
    return Units.from_json(meta["units"]) if "units" in meta else None
