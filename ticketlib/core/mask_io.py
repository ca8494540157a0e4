"""Mask files: one safetensors file per mask, safe to share and to load.

Keys are prunable parameter names relative to the base model, values uint8 0/1 tensors of
the parameter's shape, metadata (strings) with sparsity, task, model, architecture
fingerprint, seed, level, ticketlib version and a sha256 of the mask content so a
corrupted or edited file is refused. safetensors holds no code, so loading is safe.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ticketlib import __version__
from ticketlib.core.config import PrunableSet
from ticketlib.core.masks import Mask, sparsity
from ticketlib.core.prunable import architecture_fingerprint, is_optional, prunable_parameters
from ticketlib.foundations.atomic import atomic_path


def mask_checksum(mask: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(mask):
        digest.update(key.encode() + str(tuple(mask[key].shape)).encode())
        digest.update(mask[key].to(torch.uint8).contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_mask(path: str | os.PathLike, mask: Mapping[str, torch.Tensor], **metadata) -> None:
    """Write `mask` with its metadata (any JSON-able values, stored as strings)."""
    meta = {
        "format": "bert-tickets-mask/1",
        "ticketlib_version": __version__,
        "sparsity": f"{sparsity(mask):.10f}",
        "mask_sha256": mask_checksum(mask),
    }
    meta.update({k: str(v) for k, v in metadata.items() if v is not None})
    tensors = {k: m.to(torch.uint8).contiguous().cpu() for k, m in mask.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_mask(path: str | os.PathLike) -> tuple[Mask, dict[str, str]]:
    """Read a mask file; refuse anything that is not an intact 0/1 mask written by save_mask."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            raw = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable safetensors mask file ({error})") from None
    if not raw:
        raise ValueError(f"{path}: mask file holds no tensors")
    for key, tensor in raw.items():
        if tensor.dtype not in (torch.uint8, torch.bool) or (tensor.to(torch.uint8) > 1).any():
            raise ValueError(f"{path}: mask '{key}' must hold only 0/1 values (dtype {tensor.dtype})")
    mask = {k: t.to(torch.bool) for k, t in raw.items()}
    expected = meta.get("mask_sha256")
    if expected is not None and expected != mask_checksum(mask):
        raise ValueError(f"{path}: checksum mismatch, the mask file is corrupt or was edited")
    return mask, meta


def check_fits(
    mask: Mapping[str, torch.Tensor],
    model: nn.Module,
    spec: PrunableSet = PrunableSet(),
    meta: Mapping[str, str] | None = None,
) -> None:
    """Raise ValueError naming the first mismatch between `mask` and `model`'s prunable set.
    Pooler entries may be absent on either side (see prunable.is_optional)."""
    params = prunable_parameters(model, spec)
    for key, param in params.items():
        if key not in mask and is_optional(key):
            continue
        if key not in mask:
            raise ValueError(f"mask does not fit the model: no entry for '{key}'")
        if tuple(mask[key].shape) != tuple(param.shape):
            raise ValueError(
                f"mask does not fit the model: '{key}' has shape {tuple(mask[key].shape)}, "
                f"the model's is {tuple(param.shape)}"
            )
    extra = [k for k in mask if k not in params and not is_optional(k)]
    if extra:
        raise ValueError(
            f"mask does not fit the model: it has '{extra[0]}', which the model's "
            "prunable set lacks (another architecture or prunable set?)"
        )
    if meta and meta.get("architecture") not in (None, architecture_fingerprint(model, spec)):
        raise ValueError("mask does not fit the model: architecture fingerprint differs")
