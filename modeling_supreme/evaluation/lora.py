"""LoRA fine-tuning (peft) of the Cardiac Fusion Network and/or the text encoder on a benchmark task's training split,
with the epoch selected on the validation split and the test split scored once.

An adapter folder holds `adapter_config.json` (whose `base_model_name_or_path` names the base checkpoint),
`adapter_model.safetensors` and the processor, so that both of these load it:

```python
>>> model, processor = load_adapter_model("adapters/ptbxl_super")            # PeftModel + processor
>>> classifier = pipeline("ecg-zero-shot", model="adapters/ptbxl_super")     # base model with the adapter
```
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from tqdm.auto import tqdm
from transformers import AutoModel, AutoProcessor

from ..label_scoring_supreme import expand_label_prompts
from .auroc import mean_auroc
from .benchmark_tasks import TaskSpec, load_task_table
from .metrics import roc_auc_per_label
from .records import RecordSource, TaskInputs
from .reporting import summarize_task
from .results import TaskResult, skipped
from .scoring import LabelQuery, label_texts_for, score_ecgs

logger = logging.getLogger(__name__)

# Module-name patterns of the parts LoRA can adapt. The text pattern fits BERT-family encoders (the default
# all-MiniLM-L6-v2 included); other encoders name their attention projections differently (`text_pattern`).
FUSION_PATTERN = r".*fusion\.layers\.\d+\.(cross_attention\.(q_proj|k_proj|v_proj|o_proj)|feed_forward\.(0|3))"
BERT_TEXT_PATTERN = r".*text_model\.encoder\.layer\.\d+\.attention\.self\.(query|key|value)"
PARTS = ("fusion", "text")
ADAPTER_CONFIG_FILE = "adapter_config.json"


@dataclasses.dataclass(frozen=True)
class LoraSettings:
    """What LoRA adapts and how it trains.

    Attributes:
        parts: "fusion" (the CFN's attention and feed-forward layers) and/or "text" (the text encoder's attention).
        rank, alpha, dropout: LoRA rank r, scaling alpha and dropout.
        text_pattern: regex of the text encoder's modules to adapt.
        learning_rate: AdamW learning rate of the adapter weights.
        epochs: passes over the training split; the epoch with the best mean validation AUROC is kept.
        batch_size: ECGs per step.
        seed: seed of the adapter initialisation and of the shuffling.
    """

    parts: tuple[str, ...] = ("fusion",)
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    text_pattern: str = BERT_TEXT_PATTERN
    learning_rate: float = 1e-3
    epochs: int = 5
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.parts) - set(PARTS))
        if not self.parts or unknown:
            raise ValueError(f"LoRA parts must be a non-empty subset of {PARTS}; got {self.parts}")
        if self.epochs < 1 or self.batch_size < 1 or self.rank < 1:
            raise ValueError(f"epochs, batch_size and rank must be positive; got {self}")

    def peft_config(self) -> LoraConfig:
        """The peft `LoraConfig` targeting `parts`."""
        patterns = [FUSION_PATTERN if part == "fusion" else self.text_pattern for part in self.parts]
        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules="|".join(f"(?:{pattern})" for pattern in patterns),
        )


def add_lora(model: Any, settings: LoraSettings) -> PeftModel:
    """Wrap a `SupremeModel` in LoRA adapters for `settings.parts`; only the adapter weights train.

    The model's text encoder is re-frozen first (which also empties its label-embedding cache), so that cached
    label embeddings never outlive a change of the text weights.
    """
    model.freeze_text_layers(0)
    torch.manual_seed(settings.seed)
    # peft raises a ValueError naming the pattern when no module matches.
    return get_peft_model(model, settings.peft_config())


def _train_mode(peft_model: PeftModel) -> None:
    """Training mode for the adapters, but batch-norm layers keep their running statistics: those are buffers of the
    frozen base model, not saved with the adapter, so updating them would make a reloaded adapter score differently."""
    peft_model.train()
    for module in peft_model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def _training_step(
    model: Any, batch: Mapping[str, Any], targets: np.ndarray, tokens: Mapping[str, torch.Tensor], optimizer: Any
) -> float:
    device = next(model.parameters()).device
    outputs = model(
        ecg_values=torch.as_tensor(batch["ecg_values"]).to(device),
        lead_mask=torch.as_tensor(batch["lead_mask"]).to(device),
        input_ids=tokens["input_ids"].to(device),
        attention_mask=tokens["attention_mask"].to(device),
        labels=torch.as_tensor(targets, dtype=torch.float32).to(device),
    )
    optimizer.zero_grad()
    outputs.loss.backward()
    optimizer.step()
    return float(outputs.loss.detach())


def _validation_auroc(model: Any, processor: Any, inputs: TaskInputs, texts: Sequence[str], batch_size: int) -> float:
    """Mean validation AUROC x100 of the current adapters; NaN without validation records or defined labels."""
    if not inputs.available_rows:
        return float("nan")
    scores = score_ecgs(model, processor, inputs.batches(batch_size), texts, progress=False)
    return mean_auroc(roc_auc_per_label(inputs.targets(), scores))


def finetune_task(
    peft_model: PeftModel,
    processor: Any,
    spec: TaskSpec,
    splits_dir: str | Path,
    source: RecordSource,
    descriptions: Mapping[str, Mapping[str, LabelQuery]],
    settings: LoraSettings,
    n_resamples: int = 1000,
    progress: bool = True,
) -> TaskResult:
    """Fine-tune the adapters on `spec`'s training split (BCE over its label columns, each asked by its description),
    keep the epoch with the best mean validation AUROC, and evaluate the test split once.

    A label asked by a prompt ensemble trains every text of it on the label's targets; validation and test score
    the label by the mean of its texts' logits, as `score_ecgs` does.

    The adapters of `peft_model` hold the selected epoch's weights afterwards.
    """
    label_names = spec.label_columns(splits_dir, "test")
    texts = label_texts_for(descriptions, spec.descriptions_key, label_names)
    splits = {
        split: TaskInputs(
            load_task_table(spec, splits_dir, split, label_names),
            source,
            processor.feature_extractor,
            crop_seconds=spec.crop_seconds,
        )
        for split in ("train", "val", "test")
    }
    if not splits["train"].available_rows or not splits["test"].available_rows:
        return skipped(
            spec, f"no {'training' if not splits['train'].available_rows else 'test'} record in {source.description}"
        )
    _, flat_texts, owners = expand_label_prompts(dict(zip(label_names, texts)))
    tokens = processor.tokenize_labels(flat_texts)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=settings.learning_rate)
    generator = np.random.default_rng(settings.seed)
    history: list[dict[str, float | None]] = []
    best_state, best_auroc, best_epoch = None, float("nan"), 0
    for epoch in range(1, settings.epochs + 1):
        _train_mode(peft_model)
        order = generator.permutation(splits["train"].available_rows).tolist()
        text_targets = splits["train"].table.targets[:, owners]  # (rows, texts): each text trained on its label
        losses = [
            _training_step(peft_model, batch, text_targets[batch["rows"]], tokens, optimizer)
            for batch in tqdm(
                splits["train"].batches(settings.batch_size, order),
                desc=f"{spec.name} epoch {epoch}",
                disable=not progress,
            )
        ]
        auroc = _validation_auroc(peft_model, processor, splits["val"], texts, settings.batch_size)
        history.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)) if losses else None,
                "val_auroc": None if np.isnan(auroc) else auroc,
            }
        )
        if best_state is None or (not np.isnan(auroc) and (np.isnan(best_auroc) or auroc > best_auroc)):
            best_state = {name: value.detach().clone() for name, value in get_peft_model_state_dict(peft_model).items()}
            best_auroc, best_epoch = auroc, epoch
    set_peft_model_state_dict(peft_model, best_state)
    test = splits["test"]
    scores = score_ecgs(peft_model, processor, test.batches(settings.batch_size), texts, progress=progress)
    result = summarize_task(spec, label_names, test.targets(), scores, n_resamples=n_resamples, seed=settings.seed)
    result.n_table_rows = len(test.table.keys)
    result.missing = list(test.missing)
    result.rejected = [(item.key, item.reason) for item in test.rejected]
    result.extra.update(
        {
            "lora": {key: value for key, value in dataclasses.asdict(settings).items()},
            "selected_epoch": best_epoch,
            "validation_auroc": None if np.isnan(best_auroc) else round(best_auroc, 4),
            "history": history,
            "train_records": len(splits["train"].evaluated_rows),
        }
    )
    return result


def save_adapter(peft_model: PeftModel, processor: Any, folder: str | Path, base_model_name_or_path: str) -> Path:
    """Write the adapter (`adapter_config.json` naming `base_model_name_or_path`, `adapter_model.safetensors`) and
    the processor into `folder`, which `load_adapter_model` and `pipeline("ecg-zero-shot", model=folder)` load."""
    folder = Path(folder)
    peft_model.peft_config[peft_model.active_adapter].base_model_name_or_path = str(base_model_name_or_path)
    peft_model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def load_adapter_model(
    folder: str | Path, device: str | torch.device | None = None, trust_remote_code: bool = False
) -> tuple[PeftModel, Any]:
    """The base model named by the adapter's config with the adapter applied (eval mode), and the saved processor."""
    config_path = Path(folder) / ADAPTER_CONFIG_FILE
    try:
        base = json.loads(config_path.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (OSError, KeyError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder} is not a LoRA adapter folder ({config_path}: {error})") from error
    model = AutoModel.from_pretrained(base, trust_remote_code=trust_remote_code)
    peft_model = PeftModel.from_pretrained(model, str(folder)).to(device or "cpu").eval()
    processor = AutoProcessor.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    return peft_model, processor


__all__ = [
    "BERT_TEXT_PATTERN",
    "FUSION_PATTERN",
    "LoraSettings",
    "add_lora",
    "finetune_task",
    "load_adapter_model",
    "save_adapter",
]
