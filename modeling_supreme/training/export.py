"""The folder a run ends with: what `pipeline("ecg-zero-shot", model=folder)` loads, and its publication.

A model folder holds the model (config with the label vocabulary and descriptions, safetensors weights, code files),
the processor (feature extractor + tokenizer), `vocabulary.json` (counts, categories, synonyms of the labels),
`training_summary.json` and a model card. Publishing goes through `evaluation.publishing.push_model_folder`, from a
staging copy that leaves out the run's checkpoints and logs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from huggingface_hub import ModelCard, ModelCardData

from ..entities import Vocabulary
from ..evaluation.model_card import MERL_CITATION, SUPREME_CITATION, TEMPLATE, describe_model, limitations
from ..evaluation.publishing import CARD_FILE, push_model_folder
from ..modeling_supreme import SupremeModel
from ..processing_supreme import SupremeProcessor

VOCABULARY_FILE = "vocabulary.json"
SUMMARY_FILE = "training_summary.json"


def save_model_folder(
    folder: str | Path,
    model: SupremeModel,
    processor: SupremeProcessor,
    vocabulary: Optional[Vocabulary],
    state_dict: Optional[Mapping[str, Any]] = None,
    summary: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write a loadable model folder (call on the main process only).

    Args:
        folder: where to write (created).
        model: the unwrapped model (its config carries `id2label` and `label_descriptions`).
        processor: the run's processor.
        vocabulary: the label vocabulary, saved as `vocabulary.json` when given.
        state_dict: the weights to save (from `accelerator.get_state_dict`, needed for sharded models).
        summary: JSON-serialisable facts of the run, saved as `training_summary.json`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, state_dict=dict(state_dict) if state_dict is not None else None)
    processor.save_pretrained(folder)
    if vocabulary is not None:
        vocabulary.save(folder / VOCABULARY_FILE)
    if summary is not None:
        (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    return folder


def copy_model_folder(source: str | Path, destination: str | Path) -> Path:
    """Copy the files of a model folder (not its sub-folders) into `destination`."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for path in Path(source).iterdir():
        if path.is_file():
            shutil.copy2(path, destination / path.name)
    return destination


def _training_data_text(summary: Mapping[str, Any], config: Any) -> str:
    options = summary["options"]
    text = (
        f"Pre-trained with `train_accelerate.py` on split `{options['train_split']}` of `{options['dataset']}` "
        f"(objective `{config.objective}`, {summary['global_step']} optimisation steps of "
        f"{options['batch_size']} ECGs x {options['gradient_accumulation_steps']} accumulation x "
        f"{summary['world_size']} processes, learning rate {options['learning_rate']} with warm-up and cosine decay). "
        f"Labels: {summary['num_labels']} entities mined from the reports (`{VOCABULARY_FILE}`)."
    )
    return text


def _validation_text(summary: Mapping[str, Any]) -> str:
    validation = summary.get("validation")
    if not validation:
        return "No validation split was used during training; the weights are those of the last step."
    options = summary["options"]
    chosen = (
        f"The weights are those of step {validation['step']}, chosen by this number"
        if summary["final_weights"] == "best" else f"The weights are those of the last step ({validation['step']})"
    )
    return (
        f"Zero-shot mean AUROC on the validation split `{options['validation_split']}` (queries: the `{options['val_task']}` "
        f"label descriptions): **{validation['mean_auroc']:.2f}**. {chosen}; it is a validation figure, not a test "
        "result. Run `eval/zero_shot.py` for the benchmark."
    )


def model_card(summary: Mapping[str, Any], config: Any, repo_id: str) -> ModelCard:
    """The card of a trained model folder: the evaluation package's template filled with the run's facts."""
    dataset = str(summary["options"]["dataset"])
    card_data = ModelCardData(
        language="en",
        library_name="transformers",
        tags=["ecg", "electrocardiogram", "zero-shot", "supreme", "medical", "time-series", "custom_code"],
        datasets=[dataset] if not Path(dataset).exists() else None,
        model_name=repo_id,
    )
    return ModelCard.from_template(
        card_data,
        template_str=TEMPLATE,
        title="SuPreME ECG model",
        description=describe_model(config),
        repo_id=repo_id,
        sampling_rate=int(config.sampling_rate),
        seconds=f"{config.num_samples / config.sampling_rate:g}",
        training_data=_training_data_text(summary, config),
        evaluation=_validation_text(summary),
        limitations=limitations({"tasks": {}}),
        citation=f"{SUPREME_CITATION}\n\n{MERL_CITATION}",
    )


def write_model_card(folder: str | Path, summary: Mapping[str, Any], config: Any, repo_id: Optional[str]) -> Path:
    """`README.md` of a model folder; the usage example names `repo_id` (or the folder)."""
    path = Path(folder) / CARD_FILE
    model_card(summary, config, repo_id or str(folder)).save(path)
    return path


def push_trained_folder(folder: str | Path, repo_id: str, private: bool = False, token: Optional[str] = None) -> str:
    """Publish the model files of a run's folder (not `checkpoints/`, `best/`, `logs/`) to `repo_id`; -> URL."""
    return push_model_folder(folder, repo_id, token=token, private=private)


__all__ = [
    "SUMMARY_FILE",
    "VOCABULARY_FILE",
    "copy_model_folder",
    "model_card",
    "push_trained_folder",
    "save_model_folder",
    "write_model_card",
]
