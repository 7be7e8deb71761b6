"""Publishing a model on the Hugging Face Hub with everything a user without this package needs: weights, config,
processor (feature extractor + tokenizer), the code files (model, processor, `ecg-zero-shot` pipeline) and a model
card (`model_card`), uploaded in one commit so that

    pipeline("ecg-zero-shot", model="<repo id>", trust_remote_code=True)

works right after the push. Datasets are pushed with
`modeling_supreme.dataset_builders.dataset_push.push_dataset_folder`, which carries their card.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, ModelCard

from ..pickle_files import refuse_pickle_files
from ..pipeline_ecg_zero_shot import save_pipeline_folder
from .model_card import card_info_for, model_card_from_results

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
# The package's files that travel with every checkpoint (remote code); they import only each other, relatively.
CODE_FILES = (
    "configuration_supreme.py",
    "batching_supreme.py",
    "modeling_supreme.py",
    "ecg_encoders_supreme.py",
    "fusion_supreme.py",
    "model_files_supreme.py",
    "label_scoring_supreme.py",
    "reading_supreme.py",
    "leads_supreme.py",
    "feature_extraction_supreme.py",
    "signal_processing_supreme.py",
    "storage_supreme.py",
    "processing_supreme.py",
    "pipeline_ecg_zero_shot.py",
)
# What a pushed model folder must hold for `pipeline(..., trust_remote_code=True)` in a fresh environment.
REQUIRED_FILES = ("config.json", "processor_config.json", "tokenizer_config.json", *CODE_FILES, CARD_FILE)


def missing_model_files(folder: str | Path) -> list[str]:
    """Files of `REQUIRED_FILES` (and safetensors weights) that `folder` lacks."""
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if not any(folder.glob("*.safetensors")):
        missing.append("*.safetensors (weights)")
    return missing


def write_model_folder(model: Any, processor: Any, folder: str | Path, card: ModelCard) -> Path:
    """Save weights + config + the pipeline's code files (`save_pipeline_folder`), the processor and the card into
    `folder`; ValueError if the result lacks a required file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_pipeline_folder(model, processor, folder)
    card.save(folder / CARD_FILE)
    missing = missing_model_files(folder)
    if missing:
        raise ValueError(f"{folder}: the saved model folder lacks {missing}")
    return folder


def push_model_folder(
    folder: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload SuPreME model, processor, code and card",
) -> str:
    """Upload a complete model folder (see `REQUIRED_FILES`) to the model repository `repo_id` in one commit.

    Only the files at the top of the folder go up (a model's files never sit in sub-folders), so a training run's
    folder can be pushed as it is, without its `checkpoints/`, `best/` or `logs/`.

    Returns:
        The repository URL.

    Raises:
        ValueError: the folder lacks required files or holds a pickle file (nothing is uploaded).
    """
    missing = missing_model_files(folder)
    if missing:
        raise ValueError(
            f"{folder} is not a complete model folder (missing {missing}); write it with write_model_folder first"
        )
    refuse_pickle_files(folder, "publish")
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        commit_message=commit_message,
        ignore_patterns=["*/*"],  # fnmatch: anything below a sub-folder
    )
    logger.info("pushed %s to %s", folder, url)
    return str(url)


def publish_model(
    model: Any,
    processor: Any,
    repo_id: str,
    results: Mapping[str, Any],
    staging_folder: str | Path,
    token: str | None = None,
    private: bool | None = None,
    **card_fields: Any,
) -> str:
    """Write model, processor, code and a card generated from `results` (a `results.json`) into `staging_folder`,
    then push that folder to `repo_id` in one commit. `card_fields` go to `CardInfo` (training_data, license...).

    Returns:
        The repository URL.
    """
    card = model_card_from_results(results, card_info_for(model, repo_id, **card_fields))
    folder = write_model_folder(model, processor, staging_folder, card)
    return push_model_folder(folder, repo_id, token=token, private=private)


__all__ = [
    "CODE_FILES",
    "REQUIRED_FILES",
    "missing_model_files",
    "publish_model",
    "push_model_folder",
    "write_model_folder",
]
