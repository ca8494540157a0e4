"""The contrastive sentence-pair objective all-MiniLM-L6-v2 was trained with, as a task model.

`SentenceEncoder` is the encoder alone (no task head, no pooler), mean-pooled, so its
prunable set, and any mask found on it, is the encoder's: it fits every other task's model.
Its loss is sentence-transformers' MultipleNegativesRankingLoss: for a batch of pairs
(q_i, s_i), the cross-entropy of picking s_i among all sentences of the batch, over the
cosine similarities times `scale` (the other pairs' sentences are the negatives).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ticketlib.core.pooling import EncoderModel


def contrastive_loss(
    queries: torch.Tensor, candidates: torch.Tensor, scale: float = 20.0, symmetric: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, scores): scores[i, j] = scale * cos(queries[i], candidates[j]); loss = mean over i of
    the cross-entropy of target j = i. symmetric: the mean of that and the same for the columns."""
    if queries.shape != candidates.shape or queries.dim() != 2:
        raise ValueError(
            f"queries and candidates must be matching (batch, size) tensors, "
            f"got {tuple(queries.shape)} and {tuple(candidates.shape)}"
        )
    scores = scale * nn.functional.normalize(queries, dim=-1) @ nn.functional.normalize(candidates, dim=-1).T
    targets = torch.arange(len(scores), device=scores.device)
    loss = nn.functional.cross_entropy(scores, targets)
    if symmetric:
        loss = (loss + nn.functional.cross_entropy(scores.T, targets)) / 2
    return loss, scores


@dataclass
class ContrastiveOutput:
    """loss (None without pairs); logits: the scaled similarity matrix; the two sides' embeddings."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None
    pair_embeddings: torch.Tensor | None = None


class SentenceEncoder(EncoderModel):
    """Mean-pooled encoder trained on (text, pair text) features with in-batch negatives.

    forward(input_ids, ..., pair_input_ids, ...): the loss of the batch's pairs (see
    `contrastive_loss`); without pair fields, only the embeddings of the first sequences.
    """

    def __init__(self, base: nn.Module, scale: float = 20.0, symmetric: bool = False):
        super().__init__(base)
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.scale, self.symmetric = float(scale), bool(symmetric)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        pair_input_ids: torch.Tensor | None = None,
        pair_attention_mask: torch.Tensor | None = None,
        pair_token_type_ids: torch.Tensor | None = None,
    ) -> ContrastiveOutput:
        embeddings = self.encode(input_ids, attention_mask, token_type_ids)
        if pair_input_ids is None:
            return ContrastiveOutput(embeddings=embeddings)
        pair_embeddings = self.encode(pair_input_ids, pair_attention_mask, pair_token_type_ids)
        loss, scores = contrastive_loss(embeddings, pair_embeddings, self.scale, self.symmetric)
        return ContrastiveOutput(loss=loss, logits=scores, embeddings=embeddings, pair_embeddings=pair_embeddings)
