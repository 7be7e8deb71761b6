"""SuPreME's ECG encoders: a 1-D ResNet and a 1-D ViT, each mapping ecg_values (B, C, T) to tokens (B, N, W), a pooled
embedding (B, W) and, when asked, the hidden token sequences (B, N_i, W_i) of its stages; `width` is W. Their repeated
blocks are GradientCheckpointingLayers, so `gradient_checkpointing_enable()` recomputes them in the backward pass.

Shapes: B = batch of ECGs, C = input channels (leads, and their mask with `lead_mask_channels`), T = samples per lead,
N = ECG tokens, W = encoder width.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .configuration_supreme import SupremeConfig

EncoderOutput = tuple[torch.Tensor, torch.Tensor, Optional[tuple[torch.Tensor, ...]]]


class ResNet1dBasicBlock(GradientCheckpointingLayer):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm1d(out_channels)
            )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(hidden)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(hidden))


class ResNet1dEncoder(nn.Module):
    """1-D ResNet: conv stem (stride 2, no max-pool), then stages with strides 1/2/2/2. T=5000 gives N=313."""

    def __init__(self, num_leads: int, widths: list[int], blocks: list[int], stem_kernel: int = 7, **_: Any) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(num_leads, widths[0], stem_kernel, stride=2, padding=stem_kernel // 2, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages, in_channels = [], widths[0]
        for stage_index, (width, depth) in enumerate(zip(widths, blocks)):
            stride = 1 if stage_index == 0 else 2
            layers = [ResNet1dBasicBlock(in_channels, width, stride)]
            layers += [ResNet1dBasicBlock(width, width, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*layers))
            in_channels = width
        self.stages = nn.Sequential(*stages)
        self.width = widths[-1]

    def forward(self, ecg_values: torch.Tensor, output_hidden_states: bool = False) -> EncoderOutput:
        """ecg_values (B, C, T) -> tokens (B, N, W), pooled (B, W), hidden states (stem + one per stage) or None."""
        features = self.stem(ecg_values)  # (B, W_0, T/2)
        hidden_states = [features.transpose(1, 2)] if output_hidden_states else None
        for stage in self.stages:
            for block in stage:  # block by block, so that each one is a checkpointing unit
                features = block(features)
            if hidden_states is not None:
                hidden_states.append(features.transpose(1, 2))
        return features.transpose(1, 2), features.mean(dim=-1), tuple(hidden_states) if hidden_states else None


class ViT1dBlock(nn.TransformerEncoderLayer, GradientCheckpointingLayer):
    """torch's pre-norm transformer encoder layer, made a checkpointing unit (same parameters and state-dict keys)."""


class ViT1dEncoder(nn.Module):
    """1-D ViT: non-overlapping patches of `patch_size` samples, learned positions, pre-norm transformer blocks."""

    def __init__(
        self,
        num_leads: int,
        num_samples: int,
        patch_size: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        **_: Any,
    ) -> None:
        super().__init__()
        if num_samples % patch_size:
            raise ValueError(f"num_samples ({num_samples}) must be a multiple of the ViT patch_size ({patch_size}).")
        self.patch_embed = nn.Conv1d(num_leads, width, patch_size, stride=patch_size)
        self.position_embeddings = nn.Parameter(torch.empty(1, num_samples // patch_size, width))
        layer = ViT1dBlock(
            width, heads, int(width * mlp_ratio), dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.width = width

    def forward(self, ecg_values: torch.Tensor, output_hidden_states: bool = False) -> EncoderOutput:
        """ecg_values (B, C, T) -> tokens (B, N, W), pooled (B, W), hidden states (embedding + per block) or None."""
        tokens = self.patch_embed(ecg_values).transpose(1, 2)  # (B, N, W)
        if tokens.shape[1] != self.position_embeddings.shape[1]:
            raise ValueError(
                f"ViT encoder expects {self.position_embeddings.shape[1]} patches, got {tokens.shape[1]}: "
                "ecg_values must have the configured num_samples."
            )
        tokens = tokens + self.position_embeddings
        hidden_states = [tokens] if output_hidden_states else None
        # Layer by layer (what nn.TransformerEncoder does without a mask), so that each block is a checkpointing unit.
        for block in self.blocks.layers:
            tokens = block(tokens)
            if hidden_states is not None:
                hidden_states.append(tokens)
        tokens = self.norm(tokens)
        return tokens, tokens.mean(dim=1), tuple(hidden_states) if hidden_states else None


ECG_ENCODER_CLASSES: dict[str, type[nn.Module]] = {"resnet1d": ResNet1dEncoder, "vit1d": ViT1dEncoder}


def ecg_encoder_channels(config: SupremeConfig) -> int:
    """Input channels of the ECG encoder: the leads, and their mask with `config.lead_mask_channels`."""
    return config.num_leads * (2 if getattr(config, "lead_mask_channels", False) else 1)


def build_ecg_encoder(config: SupremeConfig) -> nn.Module:
    architecture = dict(config.ecg_architecture)
    encoder_class = ECG_ENCODER_CLASSES[architecture.pop("kind")]
    return encoder_class(num_leads=ecg_encoder_channels(config), num_samples=config.num_samples, **architecture)


def with_lead_mask_channels(ecg_values: torch.Tensor, lead_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """ecg_values (B, C, T), lead_mask (B, C) or None (every lead present) -> (B, 2C, T): the leads, then the mask
    as constant channels. The first convolution / patch embedding turns them into a learned embedding of which
    leads are present, so a missing lead is not mistaken for a flat (pathological) one."""
    if lead_mask is None:
        mask = ecg_values.new_ones(ecg_values.shape[:2])
    else:
        mask = lead_mask.to(device=ecg_values.device, dtype=ecg_values.dtype)
    return torch.cat([ecg_values, mask.unsqueeze(-1).expand_as(ecg_values)], dim=1)


__all__ = [
    "ECG_ENCODER_CLASSES",
    "EncoderOutput",
    "ResNet1dBasicBlock",
    "ResNet1dEncoder",
    "ViT1dBlock",
    "ViT1dEncoder",
    "build_ecg_encoder",
    "ecg_encoder_channels",
    "with_lead_mask_channels",
]
