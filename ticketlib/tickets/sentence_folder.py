"""sentence-transformers folders for mean-pooled tickets (pooling "mean", squad-retrieval).

A mean-pooled model has no transformers class, but sentence-transformers is built on exactly
that model: a Transformer module (the encoder's last hidden states), a Pooling module (mean
over the non-padding tokens, ticketlib.core.pooling.mean_pool) and, for a classifier or a
regressor, a Dense module with no activation holding the head's linear layer (its dropout is
the identity in eval mode). So `SentenceTransformer(DIR).encode(texts)` gives the mean-pooled
encoder's embeddings (a sentence encoder) or the head's logits (a classifier, one value for a
regressor). Pairs are passed as tuples, tokenized as the task's pairs are.

The folder is written by sentence-transformers' own `save` (modules.json,
sentence_bert_config.json, 1_Pooling/config.json, 2_Dense/...), so its format is the library's.

A shrunk structured encoder (ticketlib.core.shrink) has layers of different sizes, which no
transformers config describes: its Transformer module is `ShrunkTransformer`, which loads the
weights with `ticketlib.core.shrink.load_shrunk`. sentence-transformers imports a module class
outside its own package only when asked to: `SentenceTransformer(DIR, trust_remote_code=True)`
(the class comes from the installed ticketlib, no code is read from the folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

try:  # the "sharing" extra; only the exports of mean-pooled tickets need it
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
except ImportError as error:  # pragma: no cover - the pinned environment has it
    SentenceTransformer = None
    Transformer = object
    _MISSING = error
else:
    _MISSING = None


def _require() -> None:
    if _MISSING is not None:
        raise RuntimeError(
            f"exporting a mean-pooled ticket needs sentence-transformers "
            f"(pip install -c constraints.txt 'bert-tickets[sharing]'): {_MISSING}"
        )


class ShrunkTransformer(Transformer):
    """sentence-transformers' Transformer module over a shrunk encoder (ticketlib.core.shrink):
    the folder holds shrink.json, and the model is rebuilt by `load_shrunk` instead of
    `AutoModel.from_pretrained`, which cannot build layers of different sizes."""

    def _load_model(self, model_name_or_path, transformer_task, config, backend, is_peft_model, **model_kwargs):
        from ticketlib.core.shrink import SHRINK_FILE, load_shrunk
        from ticketlib.foundations.atomic import read_json

        if backend != "torch" or not os.path.isdir(model_name_or_path):
            raise ValueError(f"{model_name_or_path}: a shrunk ticket loads from a local folder with the torch backend")
        self.shrink_record = read_json(Path(model_name_or_path) / SHRINK_FILE)  # saved again as it was
        return load_shrunk(model_name_or_path)

    def save(self, output_path: str, *args, **kwargs) -> None:
        from ticketlib.core.shrink import save_shrunk

        save_shrunk(self.model, output_path, getattr(self, "shrink_record", None))
        self.processor.save_pretrained(output_path)
        self.save_config(output_path)


def write_sentence_folder(
    folder: str | os.PathLike,
    tokenizer,
    head: nn.Linear | None = None,
    max_length: int | None = None,
    shrunk: bool = False,
) -> None:
    """Turn `folder`, which holds an encoder (`save_pretrained`, or `ticketlib.core.shrink.save_shrunk`
    when `shrunk`), into a sentence-transformers folder: the tokenizer, mean pooling and, given a
    head, a Dense module with its weights. `max_length`: the run's truncation length."""
    _require()
    import torch

    folder = Path(folder)
    tokenizer.save_pretrained(str(folder))
    module = (ShrunkTransformer if shrunk else Transformer)(str(folder), max_seq_length=max_length)
    hidden = module.get_embedding_dimension()
    modules = [module, Pooling(hidden, "mean")]
    if head is not None:
        dense = Dense(head.in_features, head.out_features, activation_function=nn.Identity())
        with torch.no_grad():
            dense.linear.weight.copy_(head.weight)
            dense.linear.bias.copy_(head.bias)
        modules.append(dense)
    SentenceTransformer(modules=modules, device="cpu").save(str(folder), create_model_card=False)


def is_sentence_folder(folder: str | os.PathLike) -> bool:
    return (Path(folder) / "modules.json").is_file()
