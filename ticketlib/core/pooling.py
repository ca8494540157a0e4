"""Pooling: how a classification or regression head turns the encoder's token states into one vector.

POOLINGS, the named choice (`load_model(..., pooling=...)`, `Recipe.pooling`):
- "cls": the paper's, and BERT's: the [CLS] state through the pooler (dense + tanh). The model
  is Hugging Face's own *ForSequenceClassification, loaded unchanged.
- "mean": the mean of the last hidden states over the non-padding tokens (attention_mask 1),
  how sentence-transformers checkpoints such as all-MiniLM-L6-v2 were trained; dropout and a
  linear classifier follow, as in the "cls" head. The pooler is unused, so the model is built
  without one: it is not in the prunable set whatever `PrunableSet.include_pooler` says, and
  a mask's pooler entry (optional, see prunable.is_optional) is ignored by it.

`EncoderModel` holds the base model under its usual attribute ("bert"), so parameter names
(`bert.encoder.layer.0...`) and mask keys are those of the Hugging Face task models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ticketlib.core.config import POOLINGS


def check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    return pooling


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden` (batch x length x size) over the positions where `attention_mask` is 1."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class EncoderModel(nn.Module):
    """A Hugging Face base model without pooler, mean-pooled; subclasses add what goes on top.

    `base_model` and the attribute name (the base's `base_model_prefix`, "bert" for BERT) are
    those of Hugging Face task models, which ticketlib.core.prunable and ticketlib.core.rewind rely on.
    """

    def __init__(self, base: nn.Module):
        super().__init__()
        if getattr(base, "pooler", None) is not None:
            raise ValueError("EncoderModel takes a base model built without pooler (add_pooling_layer=False)")
        self.base_model_prefix = base.base_model_prefix
        setattr(self, self.base_model_prefix, base)
        self.config = base.config

    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean-pooled last hidden states, one vector per sequence."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.base_model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return mean_pool(hidden, attention_mask)


def sequence_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """The loss Hugging Face's *ForSequenceClassification computes for `config.problem_type`:
    "regression" MSE (one output), "single_label_classification" cross-entropy."""
    if config.problem_type == "regression":
        if config.num_labels != 1:
            raise ValueError("regression heads here have one output")
        return nn.functional.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
    if config.problem_type == "single_label_classification":
        return nn.functional.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1))
    raise ValueError(f"unsupported problem_type {config.problem_type!r}")


@dataclass
class ClassifierOutput:
    """What Hugging Face's SequenceClassifierOutput holds and this library reads: loss (None
    without labels) and logits (batch x num_labels)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class MeanPooledClassifier(EncoderModel):
    """Sequence classification or regression on the mean-pooled encoder (pooling "mean").

    The head is Hugging Face's: dropout (config.classifier_dropout, else hidden_dropout_prob)
    then a linear layer to `config.num_labels`, initialised as BERT does (normal with
    config.initializer_range, zero bias) from torch's global RNG.
    """

    def __init__(self, base: nn.Module):
        super().__init__(base)
        config = base.config
        dropout = getattr(config, "classifier_dropout", None)
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        with torch.no_grad():
            self.classifier.weight.normal_(0.0, config.initializer_range)
            self.classifier.bias.zero_()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> ClassifierOutput:
        logits = self.classifier(self.dropout(self.encode(input_ids, attention_mask, token_type_ids)))
        loss = None if labels is None else sequence_loss(logits, labels, self.config)
        return ClassifierOutput(loss=loss, logits=logits)
