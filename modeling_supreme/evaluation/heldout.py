"""Zero-shot AUROC of a trained model on held-out splits of a built dataset (e.g. PTB-XL folds 9-10 queried with the
five super-class descriptions): what the demo and the SuPreME-vs-CLIP check report. Model selection never uses it.
It reads the splits as training does (`modeling_supreme.training.data`), so it needs the `[train]` extra.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Optional

import numpy as np
import torch

from ..leads_supreme import parse_lead_sets
from ..processing_supreme import SupremeProcessor
from ..training.data import SupremeCollator, ecg_batches, load_splits
from ..training.validation_targets import ValidationSet, labelled_split
from .auroc import auroc_per_label, mean_auroc
from .robustness import WordingResult, flatten_wordings, logit_axis_shares, wording_results
from .scoring import LabelQuery, score_ecgs


@dataclasses.dataclass
class HeldOutResult:
    """Zero-shot scores of held-out ECGs.

    Attributes:
        label_names / label_texts: the L labels and the descriptions asked.
        targets, scores: (N, L) 0/1 targets and sigmoid probabilities.
        per_label_auroc: label -> AUROC x100 (None for a label with a single class).
        mean_auroc: mean over the defined labels, x100.
        wordings: label -> its AUROC by each wording asked alone (`evaluation.robustness`), when wordings were given.
        query_axis_shares: share of the variance of every query's scores (descriptions and wordings) on the first
            three principal axes over the ECGs (`evaluation.robustness.logit_axis_shares`): a first share near 1
            means the model ranks the ECGs one way whatever it is asked.
    """

    label_names: list[str]
    label_texts: list[LabelQuery]
    targets: np.ndarray
    scores: np.ndarray
    per_label_auroc: dict[str, Optional[float]]
    mean_auroc: float
    wordings: dict[str, WordingResult] = dataclasses.field(default_factory=dict)
    query_axis_shares: list[float] = dataclasses.field(default_factory=list)

    @property
    def n_records(self) -> int:
        return int(self.targets.shape[0])

    def within_abnormal_auroc(self, normal_label: str = "NORM") -> dict[str, Optional[float]]:
        """Label -> AUROC x100 among the ECGs whose `normal_label` target is 0 (does the MI query find the infarcts
        among the other abnormal ECGs, rather than ranking every ECG by how abnormal it is?); None for the normal
        label itself and for a label with a single class there. {} when `normal_label` is not one of the labels."""
        if normal_label not in self.label_names:
            return {}
        abnormal = self.targets[:, self.label_names.index(normal_label)] == 0
        fractions = auroc_per_label(self.targets[abnormal], self.scores[abnormal], self.label_names)
        return {name: None if value is None or name == normal_label else 100 * value
                for name, value in fractions.items()}


def load_heldout_set(
    dataset: str,
    splits: Sequence[str] = ("validation", "test"),
    label_columns: Sequence[str] = ("super_class",),
    task: str = "ptbxl_super",
    descriptions: Optional[str] = None,
) -> ValidationSet:
    """The named splits of `dataset`, concatenated, with their label columns and the descriptions of `task`."""
    import datasets

    loaded = load_splits(dataset)
    missing = [name for name in splits if name not in loaded]
    if missing:
        raise ValueError(f"{dataset} has no splits {missing} (splits: {sorted(loaded)})")
    joined = datasets.concatenate_datasets([loaded[name] for name in splits])
    where = f"{dataset} splits {list(splits)}"
    return labelled_split(joined, dataset, list(label_columns), task, descriptions, where=where)


def evaluate_heldout(
    model: torch.nn.Module,
    processor: SupremeProcessor,
    labelled: ValidationSet,
    batch_size: int = 64,
    wordings: Optional[Mapping[str, Sequence[str]]] = None,
    lead_set: Optional[str] = None,
) -> HeldOutResult:
    """Score every ECG of `labelled` against its label descriptions and compute AUROC per label and its mean; with
    `wordings` ({label: [texts]}) also the AUROC of each label asked by each wording alone (same pass); with
    `lead_set` ("6", "II", ...) on the records reduced to that set's leads before the feature extractor."""
    collator = SupremeCollator(processor, lead_set=lead_set)
    batches = ecg_batches(labelled.split, collator, range(len(labelled.targets)), batch_size)
    pairs = flatten_wordings(wordings or {}, labelled.label_names)
    queries = [*labelled.label_texts, *(text for _, text in pairs)]
    all_scores = score_ecgs(model, processor, batches, queries, progress=False)
    scores = all_scores[:, : len(labelled.label_texts)]
    fractions = auroc_per_label(labelled.targets, scores, labelled.label_names)
    return HeldOutResult(
        label_names=list(labelled.label_names),
        label_texts=list(labelled.label_texts),
        targets=labelled.targets,
        scores=scores,
        per_label_auroc={name: None if value is None else 100 * value for name, value in fractions.items()},
        mean_auroc=mean_auroc(fractions),
        wordings=wording_results(
            labelled.targets, labelled.label_names, pairs, all_scores[:, len(labelled.label_texts) :]
        ),
        query_axis_shares=logit_axis_shares(all_scores),
    )


def evaluate_lead_sets(
    model: torch.nn.Module,
    processor: SupremeProcessor,
    labelled: ValidationSet,
    lead_sets: Sequence[str],
    batch_size: int = 64,
) -> dict[str, HeldOutResult]:
    """`evaluate_heldout` once per lead set: {set name: its result}, in the order given.

    Raises:
        ValueError: an invalid lead set, or a record lacking one of a set's leads (naming the set and the record).
    """
    names = parse_lead_sets(list(lead_sets))
    return {name: evaluate_heldout(model, processor, labelled, batch_size, lead_set=name) for name in names}


__all__ = ["HeldOutResult", "evaluate_heldout", "evaluate_lead_sets", "load_heldout_set"]
