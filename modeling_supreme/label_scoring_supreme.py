"""Label-text embeddings outside the model: the label-embedding cache, prompt ensembles and zero-shot scoring (used
by the pipeline, the trainer and evaluation).

Shapes: B = batch of ECGs, L = labels asked, T = label texts (several per label in a prompt ensemble), S = tokens of a
label text, H = text-tower width, N = ECG tokens.

This module never imports `modeling_supreme.py` (which re-exports it): a model is recognised by its parts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Optional, Union

import torch
from torch import nn
from transformers import PreTrainedModel

from .batching_supreme import batched

# How many distinct label texts a LabelEmbeddingCache keeps (a vocabulary's surface forms, a benchmark's prompts...).
LABEL_CACHE_SIZE = 65536
# Label texts encoded per text-tower call, and label queries scored per fusion call: bounds memory for any L.
LABEL_CHUNK_SIZE = 256


def unwrap_supreme_model(model: nn.Module) -> PreTrainedModel:
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
    # No isinstance check against SupremeModel: importing modeling_supreme.py here would be an import cycle, and every
    # SupremeModel is a PreTrainedModel with these three parts.
    return isinstance(module, PreTrainedModel) and all(
        hasattr(module, name) for name in ("text_model", "ecg_encoder", "fusion")
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
        for chunk in batched(new, self.chunk_size):
            tokenize = getattr(processor, "tokenize_labels", processor)
            tokens = tokenize(chunk, return_tensors="pt")
            for text, key in zip(chunk, _row_keys(tokens["input_ids"], tokens["attention_mask"])):
                self._text_rows[(id(processor), text)] = key
        keys = [self._text_rows[(id(processor), text)] for text in texts]
        input_ids, attention_mask = _rows_to_tokens(keys, device)
        return self.embed(supreme, input_ids, attention_mask)

    def _check_version(self, model: PreTrainedModel) -> None:
        version = text_weights_version(model)
        if version != self._version:
            self._rows.clear()
            self._version = version

    def _encode_rows(
        self, model: PreTrainedModel, keys: list[tuple[tuple[int, ...], tuple[int, ...]]], device: torch.device
    ) -> None:
        chunks = list(batched(keys, self.chunk_size))
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
        ValueError: no labels, an empty or non-string label or text, a label with an empty list of texts, or a text
            that is not valid Unicode (a lone surrogate); the message names the label.
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
            _check_encodable(label, text)
            texts.append(text)
            owners.append(index)
        names.append(label)
    return names, texts, owners


def _check_encodable(label: str, text: str) -> None:
    """A lone surrogate (text decoded with `surrogateescape`, a broken JSON escape) cannot reach a tokenizer."""
    for value in (label, text):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"Label {label!r}: the text {value!r} is not valid Unicode ({error.reason} at position "
                             f"{error.start}); fix the encoding of the label texts.") from None


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
    if label_embeds is not None:
        label_chunks = ({"label_embeds": embeds} for embeds in batched(label_embeds, chunk_size))
    else:
        label_chunks = (
            {"input_ids": ids, "attention_mask": mask}
            for ids, mask in zip(batched(input_ids, chunk_size), batched(attention_mask, chunk_size))
        )
    for label_inputs in label_chunks:
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
        attentions = _mean_attention_per_group(attentions, owners, num_labels)
    return mean_logits_per_label(logits, owners, num_labels), attentions


def _mean_attention_per_group(attentions: torch.Tensor, owners: Sequence[int], groups: int) -> torch.Tensor:
    """attentions (B, T, N) of T texts -> (B, groups, N), the mean over the texts of each group (`owners` (T,))."""
    batch, texts, tokens = attentions.shape
    means = mean_logits_per_label(attentions.transpose(1, 2).reshape(batch * tokens, texts), owners, groups)
    return means.reshape(batch, tokens, groups).transpose(1, 2)


__all__ = [
    "LABEL_CACHE_SIZE",
    "LABEL_CHUNK_SIZE",
    "LabelEmbeddingCache",
    "LabelPrompts",
    "expand_label_prompts",
    "mean_logits_per_label",
    "text_weights_version",
    "unwrap_supreme_model",
    "zero_shot_logits",
]
