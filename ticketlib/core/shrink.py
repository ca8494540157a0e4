"""Shrink: physically remove pruned attention heads and FFN neurons from a BERT-family model.

transformers 5.x has no `prune_heads`, so this is done here, module by module. Per encoder
layer, with the kept heads H and neurons J of a unit mask (`ticketlib.core.units.Units`):

- attention: the query, key and value Linears keep the output rows (and bias entries) of
  the heads in H; ``attention.output.dense`` keeps the input columns of H (its bias is
  unchanged); the self-attention module's ``num_attention_heads`` and ``all_head_size``
  become |H| and |H| * head_size (its forward reshapes with -1 heads, so nothing else
  changes; the head size and the 1/sqrt(head size) scaling stay);
- FFN: ``intermediate.dense`` keeps the rows (and bias entries) of J, ``output.dense`` its
  input columns.

A pruned unit contributes exactly nothing to the masked model (its columns of the following
matrix are zero, see structured.py), so the shrunk model computes the masked model's
function: the logits agree up to float rounding (tests/test_shrink.py checks 1e-5).
A layer whose heads (or neurons) are all pruned keeps one *null* unit with all weights and
biases zero (it contributes exactly zero; a Linear with no outputs cannot be reshaped into
heads), so a collapsed layer is recorded with 1 head (or neuron) and `null_units` says where.

Storage (`save_shrunk` / `load_shrunk`): a folder with ``model.safetensors`` (the state
dict, no pickles), ``config.json`` (the model's Hugging Face config, unchanged) and
``shrink.json`` (format, model class, constructor arguments the config does not hold,
per-layer head counts and intermediate sizes, null units). Plain transformers cannot build a
model whose layers differ in size: load it with `load_shrunk`, which builds the class from the
config, resizes every layer, and loads the weights strictly.

Mask keys are relative to the base model (ticketlib.core.prunable), so `shrink` takes a task model,
ticketlib's mean-pooled models (ticketlib.core.pooling) or a bare base model alike. A mean-pooled
model has no transformers class: its export saves the shrunk encoder, a base model built
without pooler (``init_kwargs`` records ``add_pooling_layer: false``), and the head beside it
(ticketlib.tickets.export).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from safetensors.torch import load_model, save_model
from torch import nn

from ticketlib.core.config import PrunableSet
from ticketlib.core.prunable import base_model, prunable_parameters
from ticketlib.core.structured import layout
from ticketlib.core.units import Units, units_from_mask
from ticketlib.foundations.atomic import atomic_path, read_json, write_json

SHRINK_FILE = "shrink.json"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "bert-tickets-shrunk/1"


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def _keep_rows(linear: nn.Linear, rows: torch.Tensor, null: bool) -> nn.Linear:
    weight = linear.weight.detach()[rows].clone()
    bias = None if linear.bias is None else linear.bias.detach()[rows].clone()
    if null:
        weight.zero_()
        if bias is not None:
            bias.zero_()
    return _linear(weight, bias)


def _keep_columns(linear: nn.Linear, columns: torch.Tensor, null: bool) -> nn.Linear:
    weight = linear.weight.detach()[:, columns].clone()
    if null:
        weight.zero_()
    return _linear(weight, None if linear.bias is None else linear.bias.detach().clone())


@torch.no_grad()
def shrink(
    model: nn.Module,
    units: Units | None = None,
    mask: Mapping[str, torch.Tensor] | None = None,
    spec: PrunableSet = PrunableSet(),
) -> dict:
    """Remove the pruned heads and neurons from `model`, in place. Give the unit mask, or a
    weight mask (its wholly pruned units are removed, and it is applied first, so a mask that
    also prunes single weights gives the shrunk masked model). Returns the shrink record
    (what `save_shrunk` writes to shrink.json)."""
    if (units is None) == (mask is None):
        raise ValueError("give exactly one of units= or mask=")
    if mask is not None:
        params = prunable_parameters(model, spec)
        for key, keep in mask.items():
            if key in params:
                params[key].mul_(keep.to(device=params[key].device, dtype=params[key].dtype))
        units = units_from_mask(mask, model, spec)
    shapes = layout(model, spec)
    if len(units.heads) != len(shapes) or len(units.neurons) != len(shapes):
        raise ValueError(f"unit mask has {len(units.heads)} layers, the model {len(shapes)}")
    null_units = {"heads": [], "neurons": []}
    for shape, layer in zip(shapes, base_model(model).encoder.layer):
        heads, neurons = units.heads[shape.index], units.neurons[shape.index]
        if len(heads) != shape.heads or len(neurons) != shape.neurons:
            raise ValueError(f"unit mask does not fit layer {shape.index}")
        null_heads, null_neurons = not bool(heads.any()), not bool(neurons.any())
        kept_heads = torch.tensor([0]) if null_heads else torch.nonzero(heads).flatten()
        kept_neurons = torch.tensor([0]) if null_neurons else torch.nonzero(neurons).flatten()
        if null_heads:
            null_units["heads"].append(shape.index)
        if null_neurons:
            null_units["neurons"].append(shape.index)
        rows = (kept_heads[:, None] * shape.head_size + torch.arange(shape.head_size)).flatten()
        attention = layer.attention.self
        for name in ("query", "key", "value"):
            setattr(attention, name, _keep_rows(getattr(attention, name), rows, null_heads))
        layer.attention.output.dense = _keep_columns(layer.attention.output.dense, rows, null_heads)
        attention.num_attention_heads = len(kept_heads)
        attention.all_head_size = len(kept_heads) * shape.head_size
        layer.intermediate.dense = _keep_rows(layer.intermediate.dense, kept_neurons, null_neurons)
        layer.output.dense = _keep_columns(layer.output.dense, kept_neurons, null_neurons)
    return shrink_record(model, null_units)


def shrink_record(model: nn.Module, null_units: dict | None = None) -> dict:
    """Per-layer head counts and intermediate sizes of a (shrunk) model."""
    layers = base_model(model).encoder.layer
    return {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "num_attention_heads": [int(layer.attention.self.num_attention_heads) for layer in layers],
        "intermediate_sizes": [int(layer.intermediate.dense.out_features) for layer in layers],
        "null_units": null_units or {"heads": [], "neurons": []},
    }


def _resize(model: nn.Module, record: dict) -> None:
    """Give every encoder layer the head count and intermediate size of `record` (weights
    uninitialised: they are loaded next)."""
    layers = base_model(model).encoder.layer
    heads, sizes = record["num_attention_heads"], record["intermediate_sizes"]
    if len(heads) != len(layers) or len(sizes) != len(layers):
        raise ValueError(f"{SHRINK_FILE} describes {len(heads)} layers, the config {len(layers)}")
    for layer, count, size in zip(layers, heads, sizes):
        attention = layer.attention.self
        width = int(count) * attention.attention_head_size
        hidden = attention.query.in_features
        for name in ("query", "key", "value"):
            setattr(attention, name, nn.Linear(hidden, width))
        layer.attention.output.dense = nn.Linear(width, hidden)
        attention.num_attention_heads, attention.all_head_size = int(count), width
        layer.intermediate.dense = nn.Linear(hidden, int(size))
        layer.output.dense = nn.Linear(int(size), layer.output.dense.out_features)


def _init_kwargs(model: nn.Module) -> dict:
    """Constructor arguments that config.json does not hold: a base model built without pooler
    (the encoder of a mean-pooled model) must be rebuilt without one for the strict load."""
    return {"add_pooling_layer": False} if getattr(model, "pooler", True) is None else {}


def save_shrunk(model: nn.Module, folder: str | os.PathLike, record: dict | None = None) -> Path:
    """Write a shrunk model: model.safetensors, config.json, shrink.json (written last)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = dict(record or shrink_record(model))
    record["model_class"] = type(model).__name__
    record["init_kwargs"] = _init_kwargs(model)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_model(model, str(tmp))
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(model.config.to_json_string())
    write_json(folder / SHRINK_FILE, record)
    return folder


def load_shrunk(folder: str | os.PathLike) -> nn.Module:
    """Rebuild a model written by `save_shrunk` (eval mode)."""
    import transformers

    folder = Path(folder)
    if not (folder / SHRINK_FILE).is_file():
        raise FileNotFoundError(f"{folder}: no {SHRINK_FILE}, not a shrunk model folder")
    record = read_json(folder / SHRINK_FILE)
    if record.get("format") != FORMAT:
        raise ValueError(f"{folder}: unknown shrunk-model format {record.get('format')!r}")
    cls = getattr(transformers, record["model_class"], None)
    if cls is None:
        raise ValueError(f"{folder}: model class {record['model_class']!r} is not a transformers class")
    config = transformers.AutoConfig.from_pretrained(str(folder))
    model = cls(config, **record.get("init_kwargs", {}))
    _resize(model, record)
    load_model(model, str(folder / WEIGHTS_FILE), strict=True)
    return model.eval()
