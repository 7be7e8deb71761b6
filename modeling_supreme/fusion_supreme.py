"""SuPreME's Cardiac Fusion Network (CFN): each label's text embedding is a query that cross-attends to the ECG
tokens; a shared head turns each query into one logit. There is no attention between label queries, so a label's
score never depends on which other labels are asked.

Shapes: B = batch of ECGs, N = ECG tokens, W = ECG encoder width, L = labels asked, D = fusion width.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_supreme import SupremeConfig


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Optional[torch.Tensor],
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """query (B, H, L, d), key/value (B, H, N, d) -> output (B, L, H, d) and weights (B, H, L, N)."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


class SupremeCrossAttention(nn.Module):
    """Label queries attend to ECG tokens. There is no attention between queries, so a label's output depends only
    on its own text and the ECG: adding or removing other labels never changes it."""

    def __init__(self, config: SupremeConfig) -> None:
        super().__init__()
        self.config = config
        self.num_heads = config.fusion_heads
        self.head_dim = config.fusion_dim // config.fusion_heads
        if self.head_dim * self.num_heads != config.fusion_dim:
            raise ValueError(
                f"fusion_dim ({config.fusion_dim}) must be divisible by fusion_heads ({config.fusion_heads})."
            )
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.q_proj = nn.Linear(config.fusion_dim, config.fusion_dim)
        self.k_proj = nn.Linear(config.fusion_dim, config.fusion_dim)
        self.v_proj = nn.Linear(config.fusion_dim, config.fusion_dim)
        self.o_proj = nn.Linear(config.fusion_dim, config.fusion_dim)

    def _split_heads(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden.shape
        return hidden.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, queries: torch.Tensor, ecg_tokens: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """queries (B, L, D), ecg_tokens (B, N, D) -> (B, L, D) and, if asked, weights (B, H, L, N)."""
        attention_interface: Callable = eager_attention_forward
        if not output_attentions:
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
        output, weights = attention_interface(
            self,
            self._split_heads(self.q_proj(queries)),
            self._split_heads(self.k_proj(ecg_tokens)),
            self._split_heads(self.v_proj(ecg_tokens)),
            attention_mask=None,
            scaling=self.scaling,
            dropout=self.config.dropout if self.training else 0.0,
        )
        output = output.reshape(queries.shape[0], queries.shape[1], -1)
        return self.o_proj(output), weights


class SupremeFusionLayer(GradientCheckpointingLayer):
    """Pre-norm decoder layer without self-attention: cross-attention to the ECG, then a feed-forward block."""

    def __init__(self, config: SupremeConfig) -> None:
        super().__init__()
        self.cross_attention_norm = nn.LayerNorm(config.fusion_dim)
        self.cross_attention = SupremeCrossAttention(config)
        self.feed_forward_norm = nn.LayerNorm(config.fusion_dim)
        self.feed_forward = nn.Sequential(
            nn.Linear(config.fusion_dim, config.fusion_ffn_dim),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.fusion_ffn_dim, config.fusion_dim),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, queries: torch.Tensor, ecg_tokens: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        attended, weights = self.cross_attention(self.cross_attention_norm(queries), ecg_tokens, output_attentions)
        queries = queries + self.dropout(attended)
        queries = queries + self.dropout(self.feed_forward(self.feed_forward_norm(queries)))
        return queries, weights


def sinusoidal_positions(length: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(length, width) fixed sinusoidal encodings, so the CFN sees where in time each ECG token lies for any N."""
    positions = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequencies = torch.exp(
        torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width)
    )
    encodings = torch.zeros(length, width, device=device, dtype=torch.float32)
    encodings[:, 0::2] = torch.sin(positions * frequencies)
    encodings[:, 1::2] = torch.cos(positions * frequencies[: width // 2])
    return encodings.to(dtype)


class CardiacFusionNetwork(nn.Module):
    """Scores every (ECG, label text) pair: label embeddings are queries of a small decoder over the ECG tokens,
    and a head shared by all labels maps each query's output to one logit."""

    def __init__(self, config: SupremeConfig, ecg_width: int) -> None:
        super().__init__()
        self.ecg_projection = nn.Linear(ecg_width, config.fusion_dim)
        self.ecg_norm = nn.LayerNorm(config.fusion_dim)
        self.layers = nn.ModuleList(SupremeFusionLayer(config) for _ in range(config.fusion_layers))
        self.final_norm = nn.LayerNorm(config.fusion_dim)
        self.head = nn.Linear(config.fusion_dim, 1)

    def forward(
        self,
        ecg_tokens: torch.Tensor,
        label_queries: torch.Tensor,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, Optional[tuple[torch.Tensor, ...]], Optional[tuple[torch.Tensor, ...]]]:
        """ecg_tokens (B, N, W), label_queries (L, D) -> logits (B, L), per-layer attentions (B, H, L, N) if asked,
        per-layer query states (B, L, D) (input first) if asked."""
        memory = self.ecg_projection(ecg_tokens)
        memory = self.ecg_norm(
            memory + sinusoidal_positions(memory.shape[1], memory.shape[2], memory.device, memory.dtype)
        )
        queries = label_queries.unsqueeze(0).expand(ecg_tokens.shape[0], -1, -1)
        attentions: list[torch.Tensor] = []
        hidden_states = [queries] if output_hidden_states else []
        for layer in self.layers:
            queries, weights = layer(queries, memory, output_attentions)
            if output_attentions:
                attentions.append(weights)
            if output_hidden_states:
                hidden_states.append(queries)
        logits = self.head(self.final_norm(queries)).squeeze(-1)
        return (
            logits,
            tuple(attentions) if output_attentions else None,
            tuple(hidden_states) if output_hidden_states else None,
        )


__all__ = [
    "CardiacFusionNetwork",
    "SupremeCrossAttention",
    "SupremeFusionLayer",
    "eager_attention_forward",
    "sinusoidal_positions",
]
