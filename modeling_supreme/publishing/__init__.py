"""Publishing SuPreME models: model cards (one template, one builder) and Hub pushes of complete model folders.

Used by training (the card and push of a run's final folder) and by evaluation scripts (a card generated from
benchmark results); it depends on neither, only on the benchmark's task table for the cards' dataset ids.
Datasets are pushed with `modeling_supreme.dataset_builders.dataset_push.push_dataset_folder`, which carries their card.
"""

from .model_card import CardInfo, build_model_card, card_info_for, describe_model, model_card_from_results
from .model_push import (
    CARD_FILE,
    CODE_FILES,
    REQUIRED_FILES,
    missing_model_files,
    publish_model,
    push_model_folder,
    write_model_folder,
)

__all__ = [
    "CARD_FILE",
    "CODE_FILES",
    "REQUIRED_FILES",
    "CardInfo",
    "build_model_card",
    "card_info_for",
    "describe_model",
    "missing_model_files",
    "model_card_from_results",
    "publish_model",
    "push_model_folder",
    "write_model_folder",
]
