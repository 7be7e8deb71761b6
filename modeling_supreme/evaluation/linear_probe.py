"""Linear probing: the ECG encoder is frozen, a linear head on its pooled embedding is trained on
1 / 10 / 100 % of a task's training split (nested random subsets, fixed seed), the head's weight decay and epoch are
selected on the validation split only, and the selected head is scored once on the test split.
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
from torch import nn
from tqdm.auto import tqdm

from .auroc import mean_auroc
from .benchmark_tasks import TaskSpec, get_task
from .metrics import roc_auc_per_label
from .records import RecordSource, TaskInputs
from .reporting import RESULTS_FILE, TABLE_FILE, summarize_task, write_report
from .results import METRIC_NOTE, EvaluationReport, TaskResult, skipped

logger = logging.getLogger(__name__)

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)
DEFAULT_WEIGHT_DECAYS = (0.0, 1e-4, 1e-3, 1e-2)


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """How heads are trained and selected.

    Attributes:
        epochs: full-batch training epochs per head.
        learning_rate: AdamW learning rate.
        weight_decays: the grid searched on the validation split.
        eval_every: epochs between validation checks (the best check is kept).
        seed: seed of the training subsets and of the heads' initialisation.
    """

    epochs: int = 300
    learning_rate: float = 1e-2
    weight_decays: tuple[float, ...] = DEFAULT_WEIGHT_DECAYS
    eval_every: int = 10
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class SplitFeatures:
    """Frozen-encoder embeddings of one split. features (n, W) float32, targets (n, L) int8, keys (n,)."""

    features: np.ndarray
    targets: np.ndarray
    keys: list[str]


def extract_features(
    model: Any,
    inputs: TaskInputs,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Pooled ECG embeddings (n, W) of the records of `inputs`, from the frozen encoder (`get_ecg_features`).
    Rows follow `inputs.evaluated_rows`."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    was_training = model.training
    model.eval()
    features: list[np.ndarray] = []
    try:
        with torch.no_grad():
            for batch in tqdm(inputs.batches(batch_size), desc="ECG embeddings", unit="batch", disable=not progress):
                _, pooled = model.get_ecg_features(
                    torch.as_tensor(batch["ecg_values"]).to(device=device, dtype=dtype),
                    torch.as_tensor(batch["lead_mask"]).to(device),
                )
                features.append(pooled.float().cpu().numpy())
    finally:
        model.train(was_training)
    width = model.ecg_encoder.width
    return np.concatenate(features) if features else np.zeros((0, width), dtype=np.float32)


def split_features(
    model: Any,
    processor: Any,
    spec: TaskSpec,
    splits_dir: str | Path,
    split: str,
    source: RecordSource,
    label_names: Sequence[str],
    batch_size: int = 64,
    progress: bool = True,
) -> tuple[SplitFeatures, TaskInputs]:
    """Embeddings and targets of the records of one split that `source` holds."""
    inputs = TaskInputs.for_split(spec, splits_dir, split, source, processor.feature_extractor, label_names)
    features = extract_features(model, inputs, batch_size, progress=progress)
    keys = [inputs.table.keys[row] for row in inputs.evaluated_rows]
    return SplitFeatures(features, inputs.targets(), keys), inputs


def training_subset(count: int, fraction: float, seed: int) -> np.ndarray:
    """Row indices of `fraction` of `count` training rows (at least one). Subsets of one seed are nested: the 1 %
    rows are among the 10 % rows, which are among all rows."""
    if not 0 < fraction <= 1:
        raise ValueError(f"training fractions must lie in (0, 1]; got {fraction}")
    permutation = np.random.default_rng(seed).permutation(count)
    return np.sort(permutation[: max(1, round(fraction * count))])


@dataclasses.dataclass
class TrainedHead:
    """A linear head with the standardisation of its inputs and how it was selected (`validation_auroc`: mean
    validation AUROC x100 of the selected head, NaN when no validation label had both classes)."""

    head: nn.Linear
    mean: torch.Tensor
    scale: torch.Tensor
    weight_decay: float
    epoch: int
    validation_auroc: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """features (n, W) -> sigmoid probabilities (n, L)."""
        with torch.no_grad():
            inputs = (torch.as_tensor(features) - self.mean) / self.scale
            return torch.sigmoid(self.head(inputs)).numpy()


def train_linear_head(train: SplitFeatures, validation: SplitFeatures, settings: ProbeSettings) -> TrainedHead:
    """Train one head per weight decay (full-batch AdamW, BCE) and keep the (weight decay, epoch) with the best mean
    validation AUROC. Without any validation label that has both classes, the last epoch of the first weight decay is
    kept (and `validation_auroc` is NaN)."""
    if not settings.weight_decays or settings.epochs < 1 or settings.eval_every < 1:
        raise ValueError(f"invalid probe settings {settings}: need weight decays, epochs >= 1 and eval_every >= 1")
    inputs = torch.as_tensor(train.features)
    mean, scale = inputs.mean(dim=0), inputs.std(dim=0, unbiased=False).clamp(min=1e-6)
    inputs = (inputs - mean) / scale
    targets = torch.as_tensor(train.targets, dtype=torch.float32)
    validation_inputs = (torch.as_tensor(validation.features) - mean) / scale
    best: TrainedHead | None = None
    for weight_decay in settings.weight_decays:
        torch.manual_seed(settings.seed)
        head = nn.Linear(inputs.shape[1], targets.shape[1])
        optimizer = torch.optim.AdamW(head.parameters(), lr=settings.learning_rate, weight_decay=weight_decay)
        for epoch in range(1, settings.epochs + 1):
            optimizer.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(head(inputs), targets).backward()
            optimizer.step()
            if epoch % settings.eval_every and epoch != settings.epochs:
                continue
            with torch.no_grad():
                auroc = (
                    mean_auroc(roc_auc_per_label(validation.targets, head(validation_inputs).numpy()))
                    if len(validation.targets)
                    else float("nan")
                )
            better = best is None or (
                not np.isnan(auroc) and (np.isnan(best.validation_auroc) or auroc > best.validation_auroc)
            )
            if better:
                snapshot = nn.Linear(inputs.shape[1], targets.shape[1])
                snapshot.load_state_dict(head.state_dict())
                best = TrainedHead(snapshot, mean, scale, weight_decay, epoch, auroc)
    return best


def probe_task(
    spec: TaskSpec,
    features: Mapping[str, SplitFeatures],
    label_names: Sequence[str],
    fraction: float,
    settings: ProbeSettings,
    n_resamples: int = 1000,
) -> TaskResult:
    """Train on `fraction` of the training features, select on validation, score the test features."""
    train, validation, test = features["train"], features["val"], features["test"]
    if len(train.keys) == 0 or len(test.keys) == 0:
        missing = "training" if len(train.keys) == 0 else "test"
        return skipped(spec, f"no {missing} record available")
    rows = training_subset(len(train.keys), fraction, settings.seed)
    subset = SplitFeatures(train.features[rows], train.targets[rows], [train.keys[row] for row in rows])
    trained = train_linear_head(subset, validation, settings)
    result = summarize_task(spec, label_names, test.targets, trained.predict(test.features), n_resamples, settings.seed)
    result.extra.update(
        {
            "train_fraction": fraction,
            "train_records": len(rows),
            "train_positives": dict(zip(label_names, subset.targets.sum(axis=0).astype(int).tolist())),
            "validation_records": len(validation.keys),
            "selected_weight_decay": trained.weight_decay,
            "selected_epoch": trained.epoch,
            "validation_auroc": (
                None if np.isnan(trained.validation_auroc) else round(trained.validation_auroc, 4)
            ),
        }
    )
    return result


def run_linear_probe(
    model: Any,
    processor: Any,
    tasks: Sequence[str],
    splits_dir: str | Path,
    sources: Mapping[str, RecordSource],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    settings: ProbeSettings = ProbeSettings(),
    batch_size: int = 64,
    n_resamples: int = 1000,
    model_name: str = "",
    progress: bool = True,
) -> dict[float, EvaluationReport]:
    """Linear probing of `tasks` at each training fraction; embeddings are extracted once per split.

    Returns:
        fraction -> report (protocol "linear probe, P % of train"); tasks without data are skipped in every report.
    """
    results: dict[float, dict[str, TaskResult]] = {fraction: {} for fraction in fractions}
    for name in tasks:
        spec = get_task(name)
        if spec.source not in sources:
            for fraction in fractions:
                results[fraction][name] = skipped(spec, f"no {spec.source} data given")
            continue
        label_names = spec.label_columns(splits_dir, "test")
        features, test_inputs = {}, None
        for split in ("train", "val", "test"):
            features[split], inputs = split_features(
                model, processor, spec, splits_dir, split, sources[spec.source], label_names, batch_size, progress
            )
            test_inputs = inputs if split == "test" else test_inputs
        for fraction in fractions:
            result = probe_task(spec, features, label_names, fraction, settings, n_resamples)
            result.n_table_rows = len(test_inputs.table.keys)
            result.missing = list(test_inputs.missing)
            result.rejected = [(item.key, item.reason) for item in test_inputs.rejected]
            results[fraction][name] = result
    settings_json = {
        "splits_dir": str(splits_dir),
        "sources": {name: source.description for name, source in sources.items()},
        "probe": dataclasses.asdict(settings),
        "bootstrap": {"n_resamples": n_resamples, "seed": settings.seed, "alpha": 0.05},
        "selection": "weight decay and epoch with the best mean validation AUROC; test scored once",
    }
    return {
        fraction: EvaluationReport(
            fraction_protocol(fraction), model_name or type(model).__name__, task_results, settings_json
        )
        for fraction, task_results in results.items()
    }


def fraction_protocol(fraction: float) -> str:
    """ "linear probe, 10 % of train"."""
    return f"linear probe, {100 * fraction:g} % of train"


def fraction_folder(fraction: float) -> str:
    """Output sub-folder of one fraction: "train_10pct"."""
    return f"train_{100 * fraction:g}pct"


def probe_summary(reports: Mapping[float, EvaluationReport]) -> dict[str, Any]:
    """The top-level `results.json` of a linear probe: each fraction's full report under `fractions`."""
    return {
        "protocol": "linear-probe",
        "model": next(iter(reports.values())).model if reports else "",
        "metric": METRIC_NOTE,
        "fractions": {f"{100 * fraction:g}%": report.to_json() for fraction, report in reports.items()},
    }


def probe_table(reports: Mapping[float, EvaluationReport]) -> str:
    """Markdown: one row per task, one column per training fraction (test AUROC x100 with the 95 % CI)."""
    fractions = list(reports)
    header = "| Task | " + " | ".join(f"{100 * fraction:g} % of train" for fraction in fractions) + " |"
    lines = ["## Linear probe", "", header, "| --- |" + " ---: |" * len(fractions)]
    names = list(next(iter(reports.values())).tasks) if reports else []
    for name in names:
        cells = []
        for fraction in fractions:
            result = reports[fraction].tasks[name]
            cells.append(
                f"{result.auroc:.2f} ({result.ci95[0]:.1f}-{result.ci95[1]:.1f})" if result.evaluated else "skipped"
            )
        lines.append(f"| {reports[fractions[0]].tasks[name].spec.title} | " + " | ".join(cells) + " |")
    lines.append(
        "| **Mean over evaluated tasks** | " + " | ".join(f"**{reports[f].mean_auroc:.2f}**" for f in fractions) + " |"
    )
    lines += [
        "",
        METRIC_NOTE,
        "Head selected on the validation split (weight decay, epoch); the test split is scored once.",
    ]
    return "\n".join(lines) + "\n"


def write_probe_reports(reports: Mapping[float, EvaluationReport], out_dir: str | Path) -> dict[str, Path]:
    """Each fraction's `results.json`, `results.md`, `roc_curves.png` in `out_dir/train_<P>pct/`, plus the summary
    `out_dir/results.json` and `out_dir/results.md` (tasks x fractions)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fraction, report in reports.items():
        write_report(report, out / fraction_folder(fraction))
    paths = {"json": out / RESULTS_FILE, "markdown": out / TABLE_FILE}
    paths["json"].write_text(json.dumps(probe_summary(reports), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(probe_table(reports), encoding="utf-8")
    return paths


__all__ = [
    "DEFAULT_FRACTIONS",
    "ProbeSettings",
    "SplitFeatures",
    "TrainedHead",
    "extract_features",
    "fraction_folder",
    "fraction_protocol",
    "probe_summary",
    "probe_table",
    "probe_task",
    "run_linear_probe",
    "train_linear_head",
    "training_subset",
    "write_probe_reports",
]
