"""Which weights are pruned: the paper's set, derived from the model's modules.

The paper prunes, per encoder layer, every linear weight matrix (attention query, key,
value and output; FFN intermediate and output), plus the pooler's dense weight. Never
pruned: embeddings, LayerNorm, biases and task heads. For bert-base that is 73 matrices
and 85,524,480 weights. The reference code hard-codes 12 layers; here the set is every
`nn.Linear` weight under the encoder, so any depth and any BERT-family model works.

Names are relative to the base model (``encoder.layer.0.attention.self.query.weight``,
``pooler.dense.weight``) so a mask fits a classification, QA or MLM model alike.
"""

from __future__ import annotations

import hashlib
import re

import torch
from torch import nn

from ticketlib.core.config import PrunableSet


def base_model(model: nn.Module) -> nn.Module:
    """The encoder-bearing base model of a Hugging Face model (itself for a bare BertModel)."""
    return getattr(model, "base_model", model)


def base_prefix(model: nn.Module) -> str:
    """Prefix of base-model parameter names in `model` ("bert." for task models, "" for BertModel)."""
    base = base_model(model)
    if base is model:
        return ""
    for name, module in model.named_children():
        if module is base:
            return name + "."
    raise ValueError("cannot locate the base model inside this model")


def prunable_parameters(model: nn.Module, spec: PrunableSet = PrunableSet()) -> dict[str, nn.Parameter]:
    """Map mask key -> parameter for every prunable weight of `model`, in module order."""
    base = base_model(model)
    encoder = getattr(base, "encoder", None)
    if encoder is None:
        raise ValueError(f"{type(base).__name__} has no `encoder`: not a BERT-family model")
    found: dict[str, nn.Parameter] = {}
    for name, module in base.named_modules():
        in_set = name.startswith("encoder.") or (spec.include_pooler and name.startswith("pooler."))
        if in_set and isinstance(module, nn.Linear):
            key = f"{name}.weight"
            if not any(re.search(pattern, key) for pattern in spec.exclude):
                found[key] = module.weight
    if not found:
        raise ValueError("the prunable set is empty: check PrunableSet.exclude")
    return found


def is_optional(key: str) -> bool:
    """Pooler entries are optional: MLM and QA models have no pooler, classification models do.
    A mask's pooler entry is ignored by a model without one, and a model's pooler that a mask
    does not cover stays dense, so one mask serves every head (MLM masks transfer)."""
    return key.startswith("pooler.")


def architecture_fingerprint(model: nn.Module, spec: PrunableSet = PrunableSet()) -> str:
    """Short hash of the encoder's prunable names and shapes: equal fingerprints accept the same masks."""
    digest = hashlib.sha256()
    for key, param in prunable_parameters(model, spec).items():
        if not is_optional(key):
            digest.update(f"{key}:{tuple(param.shape)};".encode())
    return digest.hexdigest()[:16]


def layer_of(key: str) -> str:
    """Group a mask key by layer for reports: "encoder.layer.3", "pooler", ..."""
    match = re.match(r"(encoder\.layer\.\d+)\.", key)
    return match.group(1) if match else key.split(".")[0]


@torch.no_grad()
def prunable_state(model: nn.Module, spec: PrunableSet = PrunableSet()) -> dict[str, torch.Tensor]:
    """Detached copies of the prunable weights (what magnitude pruning ranks)."""
    return {k: p.detach().clone() for k, p in prunable_parameters(model, spec).items()}
