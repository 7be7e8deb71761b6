"""Publishing a built dataset folder on the Hugging Face Hub with `datasets`' own `push_to_hub`."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
from huggingface_hub import DatasetCard, HfApi

from ..pickle_files import refuse_pickle_files
from .card import DEFAULT_CONFIG

logger = logging.getLogger(__name__)

# Keys of the card's YAML that `push_to_hub` writes itself (from what it uploads).
_KEYS_WRITTEN_BY_PUSH = ("configs", "dataset_info")


def push_dataset_folder(
    folder: str | Path,
    repo_id: str,
    config_name: str = DEFAULT_CONFIG,
    private: bool | None = None,
    token: str | None = None,
) -> str:
    """Push a dataset folder built by this package to the Hub as `repo_id` (a dataset repository).

    The folder is read as a streaming dataset (no Arrow copy in the cache, so this works for MIMIC-IV-ECG
    sized folders) and uploaded with `IterableDatasetDict.push_to_hub`, which writes one Parquet file per
    shard, named per split, and the card's `configs:` / `dataset_info:` YAML in its last commit. The prose of the
    local card (description, labels, license, citation) is committed after that, with the YAML `push_to_hub`
    wrote: the card comes last, so a push that fails never leaves a repository whose card describes data it does
    not hold (a failure before the card's commit leaves the data with the card `push_to_hub` writes).

    Args:
        folder: the dataset folder (with its `README.md`).
        repo_id: `user/name` or `org/name`.
        config_name: the configuration (subset) name on the Hub.
        private: make a new repository private.
        token: Hub token (default: the logged-in user's).

    Returns:
        The URL of the dataset repository.

    Raises:
        ValueError: the folder holds a pickle file (nothing is uploaded).
    """
    folder = Path(folder)
    refuse_pickle_files(folder, "publish")
    card = DatasetCard.load(folder / "README.md")
    api = HfApi(endpoint=datasets.config.HF_ENDPOINT, token=token)
    repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    streaming = datasets.load_dataset(str(folder), streaming=True)
    logger.info("pushing %s (splits %s) to %s", folder, list(streaming), repo_id)
    commit = streaming.push_to_hub(
        repo_id, config_name=config_name, token=token, commit_message=f"Upload {config_name} from {folder.name}"
    )
    pushed = DatasetCard.load(
        api.hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=commit.oid)
    )
    for key in _KEYS_WRITTEN_BY_PUSH:
        card.data.pop(key, None)
        if key in pushed.data:
            card.data[key] = pushed.data[key]
    api.upload_file(
        path_or_fileobj=str(card).encode(),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Dataset card",
        parent_commit=commit.oid,  # refused if the repository moved on meanwhile: never a card over other data
    )
    return str(repo_url)


__all__ = ["push_dataset_folder"]
