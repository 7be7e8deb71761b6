"""Evaluation of SuPreME models: the zero-shot benchmark (six tasks, 106 label columns), linear probing, LoRA
fine-tuning and explanations (model cards and publishing: `modeling_supreme.publishing`).

Core API (used by training for validation AUROC): `score_ecgs`, `auroc_per_label`, `mean_auroc`, `bootstrap_ci`,
`load_label_descriptions`, `TASKS`.
"""

from ..extras import require_extra

require_extra("eval", "modeling_supreme.evaluation", ["datasets", "evaluate", "sklearn"])

from .auroc import auroc_per_label, bootstrap_ci, mean_auroc
from .benchmark_tasks import TASKS, TaskSpec, TaskTable, get_task, load_task_table
from .scoring import label_texts_for, load_label_descriptions, load_model_and_processor, score_ecgs

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
    "mean_auroc",
    "score_ecgs",
]
