"""Evaluation of SuPreME models: the zero-shot benchmark (six tasks, 106 label columns), linear probing, LoRA
fine-tuning and explanations (model cards and publishing: `modeling_supreme.publishing`).

Core API (used by training for validation AUROC): `score_ecgs`, `auroc_per_label`, `mean_auroc`, `bootstrap_ci`,
`load_label_descriptions`, `TASKS`.
"""

from .benchmark import TASKS, TaskSpec, TaskTable, get_task, load_task_table
from .zero_shot import (
    auroc_per_label,
    bootstrap_ci,
    label_texts_for,
    load_label_descriptions,
    load_model_and_processor,
    macro_auroc,
    mean_auroc,
    score_ecgs,
)

__all__ = [
    "TASKS",
    "TaskSpec",
    "TaskTable",
    "auroc_per_label",
    "bootstrap_ci",
    "get_task",
    "label_texts_for",
    "load_label_descriptions",
    "load_model_and_processor",
    "load_task_table",
    "macro_auroc",
    "mean_auroc",
    "score_ecgs",
]
