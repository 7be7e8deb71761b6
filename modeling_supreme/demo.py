"""Evaluation and report of the CPU demo (`scripts/demo.sh`): zero-shot AUROC of a trained model on held-out PTB-XL
folds with the five super-class queries, one WFDB record through the `ecg-zero-shot` pipeline, a readable summary,
`summary.json` and a figure (ROC curves + the record's ECG with its scores).

    python -m modeling_supreme.demo --model demo-output/run/model --dataset demo-output/data/ptbxl-100-entities \
        [--record WFDB_RECORD] --out demo-output

The default record is PTB-XL's record 63 at 100 Hz (fold 10), found by the data resolver (`data_sources.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from matplotlib.figure import Figure

from .data_sources import ptbxl_folder
from .dataset_builders.labels import multi_label_names
from .evaluation import load_model_and_processor
from .evaluation.heldout import HeldOutResult, evaluate_heldout, evaluate_lead_sets, load_heldout_set
from .evaluation.plotting import draw_roc_curves
from .evaluation.robustness import load_paraphrases
from .leads_supreme import canonical_lead_name, lead_set_leads
from .reading_supreme import EcgRecord, read_ecg
from .training.data import load_splits
from .training.export import SUMMARY_FILE

logger = logging.getLogger(__name__)

# The record the demo runs through the pipeline when none is given: PTB-XL 63 (fold 10, held out), at 100 Hz.
DEMO_ECG_ID = 63
DEMO_RECORD = "records100/00000/00063_lr"

SUMMARY_JSON = "summary.json"
FIGURE_FILE = "demo.png"
TASK = "ptbxl_super"
LABEL_COLUMN = "super_class"
# Vertical distance between leads in the ECG panel, in mV.
LEAD_SPACING_MV = 3.0
# Lead sets the demo also scores (`leads_supreme.lead_set_leads`): twelve, the six limb leads and single-lead II.
DEMO_LEAD_SETS = ("12", "6", "II")


@dataclasses.dataclass
class RecordPrediction:
    """One record through the pipeline.

    Attributes:
        path: the WFDB record.
        super_class_scores: [{"label", "score"}] for the five super-class queries, highest first.
        vocabulary_scores: the model's own labels (its entity vocabulary), highest first.
        cardiologist_labels: the record's super-classes in the dataset, None when the record is not in it.
    """

    path: str
    super_class_scores: list[dict[str, Any]]
    vocabulary_scores: list[dict[str, Any]]
    cardiologist_labels: Optional[list[str]]


@dataclasses.dataclass
class DemoReport:
    """What the demo shows: held-out zero-shot AUROC, one record's predictions, and facts of the training run."""

    heldout: HeldOutResult
    eval_splits: list[str]
    record: RecordPrediction
    training: dict[str, Any]
    lead_sets: dict[str, HeldOutResult] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "per_class_auroc": self.heldout.per_label_auroc,
            "mean_auroc": self.heldout.mean_auroc,
            "within_abnormal_auroc": self.heldout.within_abnormal_auroc(),
            "eval_splits": self.eval_splits,
            "n_records": self.heldout.n_records,
            "queries": dict(zip(self.heldout.label_names, self.heldout.label_texts)),
            "worst_wording_auroc": {name: result.worst for name, result in self.heldout.wordings.items()},
            "wordings": {name: result.to_json() for name, result in self.heldout.wordings.items()},
            "lead_sets": {name: {"mean_auroc": result.mean_auroc, "per_class_auroc": result.per_label_auroc}
                          for name, result in self.lead_sets.items()},
            "record": dataclasses.asdict(self.record),
            "training": self.training,
        }


def record_id(path: str | Path) -> str:
    """PTB-XL id of a record path: `records100/00000/00063_lr` -> "63"."""
    return str(int(Path(path).name.split("_")[0]))


def cardiologist_labels(dataset: str, path: str | Path, label_names: Sequence[str]) -> Optional[list[str]]:
    """The super-classes the dataset gives the record (looked up by id in every split), None if it is absent."""
    wanted = record_id(path)
    for split in load_splits(dataset).values():
        ids = list(split["id"])
        if wanted in ids:
            # A Sequence(ClassLabel) column: the row lists the indices of its labels, named in the features.
            names = multi_label_names(split.features, LABEL_COLUMN)
            present = {names[index] for index in split[ids.index(wanted)][LABEL_COLUMN]}
            return [name for name in label_names if name in present]
    return None


def predict_record(model_dir: str | Path, path: str | Path, heldout: HeldOutResult, dataset: str) -> RecordPrediction:
    """Run `pipeline("ecg-zero-shot", model=model_dir)` on a WFDB record: the super-class queries and the model's own
    vocabulary."""
    from transformers import pipeline

    classifier = pipeline("ecg-zero-shot", model=str(model_dir))
    queries = dict(zip(heldout.label_names, heldout.label_texts))
    return RecordPrediction(
        path=str(path),
        super_class_scores=classifier(str(path), candidate_labels=queries),
        vocabulary_scores=classifier(str(path))[:5],
        cardiologist_labels=cardiologist_labels(dataset, path, heldout.label_names),
    )


def run_demo_evaluation(
    model_dir: str | Path, dataset: str, record: str | Path, eval_splits: Sequence[str] = ("validation", "test")
) -> DemoReport:
    """Held-out zero-shot AUROC (super-class queries, and each super-class asked by each wording of the project's
    paraphrase file) and one record's predictions for a trained model folder."""
    model, processor = load_model_and_processor(model_dir)
    labelled = load_heldout_set(dataset, eval_splits, (LABEL_COLUMN,), TASK)
    heldout = evaluate_heldout(model, processor, labelled, wordings=load_paraphrases()[TASK])
    by_lead_set = evaluate_lead_sets(model, processor, labelled, DEMO_LEAD_SETS)
    summary_path = Path(model_dir) / SUMMARY_FILE
    run = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    options = run.get("options", {})
    training = {
        "steps": run.get("global_step"),
        "final_weights": run.get("final_weights"),
        "objective": model.config.objective,
        "model_preset": options.get("model_preset"),
        "train_split": options.get("train_split"),
        "num_labels": run.get("num_labels"),
        "validation": run.get("validation"),
    }
    prediction = predict_record(model_dir, record, heldout, dataset)
    return DemoReport(heldout, list(eval_splits), prediction, training, by_lead_set)


def format_summary(report: DemoReport) -> str:
    """The readable summary the demo prints."""
    heldout, record, training = report.heldout, report.record, report.training
    lines = [
        "SuPreME demo",
        f"  pre-trained: {training.get('steps')} steps, objective {training.get('objective')}, ECG encoder "
        f"{training.get('model_preset')}, {training.get('num_labels')} entity labels mined from the reports, "
        f"{training.get('final_weights')} weights",
        f"  zero-shot on {heldout.n_records} held-out ECGs ({' + '.join(report.eval_splits)} = PTB-XL folds 9-10), "
        "one query per super-class (a text, or the prompt ensemble of its sub-classes' descriptions), its AUROC "
        "among the ECGs that are not NORM (within-abnormal: does it find "
        "its class among other abnormal ECGs?), and the worst of its other wordings (paraphrases.json):",
    ]
    within = heldout.within_abnormal_auroc()
    for name, text in zip(heldout.label_names, heldout.label_texts):
        wording = heldout.wordings.get(name)
        worst = (
            f"   worst of {len(wording.auroc)} wordings {_shown(wording.worst)} (\"{wording.worst_wording}\")"
            if wording
            else ""
        )
        inside = f"   within-abnormal {_shown(within[name])}" if within.get(name) is not None else ""
        query = _query_shown(text)
        lines.append(f"    {name:5s} AUROC {_shown(heldout.per_label_auroc[name])}{inside}   query: {query}{worst}")
    lines.append(f"    mean  AUROC {heldout.mean_auroc:5.1f}   (50 = chance)")
    if report.lead_sets:
        lines.append("  the same ECGs with only some leads (the others removed before the feature extractor):")
        lines += [f"    {_lead_set_title(name):36s} mean AUROC {result.mean_auroc:5.1f}   "
                  + "  ".join(f"{label} {_shown(value)}" for label, value in result.per_label_auroc.items())
                  for name, result in report.lead_sets.items()]
    lines.append(f"  pipeline on {record.path}:")
    scores = ", ".join(f"{item['label']} {item['score']:.2f}" for item in record.super_class_scores)
    lines.append(f"    super-class scores: {scores}")
    if record.cardiologist_labels is not None:
        lines.append(f"    cardiologists' super-classes: {', '.join(record.cardiologist_labels) or 'none'}")
    own = ", ".join(f"{item['label']} {item['score']:.2f}" for item in record.vocabulary_scores)
    lines.append(f"    top labels of the model's own vocabulary: {own}")
    return "\n".join(lines)


def _query_shown(query: Union[str, Sequence[str]]) -> str:
    """A label's query as printed: the text, or the first text of a prompt ensemble and how many it holds."""
    if isinstance(query, str):
        return f'"{query}"'
    return f'"{query[0]}" + {len(query) - 1} more (an ensemble)'


def _lead_set_title(name: str) -> str:
    leads = lead_set_leads(name)
    if len(leads) == 1:
        return f"lead {leads[0]}"
    return "12 leads" if len(leads) == 12 else f"{len(leads)} leads ({', '.join(leads)})"


def _shown(value: Optional[float]) -> str:
    return f"{value:5.1f}" if value is not None else "  n/a"


def _draw_roc(axis: Any, heldout: HeldOutResult) -> None:
    title = f"Zero-shot super-classes, {heldout.n_records} ECGs (folds 9-10)\nmean AUROC {heldout.mean_auroc:.1f}"
    draw_roc_curves(
        axis, heldout.label_names, heldout.targets, heldout.scores, heldout.per_label_auroc, title, legend_size=8
    )


def _draw_ecg(axis: Any, ecg: EcgRecord, prediction: RecordPrediction) -> None:
    seconds = np.arange(ecg.signal.shape[1]) / ecg.sampling_rate
    offsets = -LEAD_SPACING_MV * np.arange(len(ecg.lead_names))
    for lead, offset in zip(ecg.signal, offsets):
        axis.plot(seconds, np.nan_to_num(lead) + offset, linewidth=0.6, color="black")
    names = [canonical_lead_name(name) or name for name in ecg.lead_names]
    axis.set_yticks(offsets, labels=names, fontsize=7)
    axis.set_xlabel("time (s)")
    axis.set_xlim(seconds[0], seconds[-1])
    scores = ", ".join(f"{item['label']} {item['score']:.2f}" for item in prediction.super_class_scores)
    truth = (
        f"\ncardiologists: {', '.join(prediction.cardiologist_labels) or 'none'}"
        if prediction.cardiologist_labels is not None else ""
    )
    axis.set_title(f"{Path(prediction.path).name}: predicted {scores}{truth}", fontsize=9)


def plot_demo_figure(report: DemoReport, path: str | Path) -> Path:
    """PNG with the ROC curves of the held-out evaluation and the record's 12 leads titled with its scores."""
    figure = Figure(figsize=(15, 7), layout="constrained")
    roc_axis, ecg_axis = figure.subplots(1, 2, width_ratios=(1, 2))
    _draw_roc(roc_axis, report.heldout)
    ecg = read_ecg(report.record.path)
    _draw_ecg(ecg_axis, ecg, report.record)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def write_report(report: DemoReport, out_dir: str | Path) -> tuple[Path, Path]:
    """`summary.json` (keys `per_class_auroc`, `mean_auroc`, ...) and the figure in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / SUMMARY_JSON
    summary_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return summary_path, plot_demo_figure(report, out_dir / FIGURE_FILE)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of the demo's last stage; prints the summary and where the files are."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained model folder")
    parser.add_argument("--dataset", required=True, help="the built PTB-XL dataset (folder or Hub id)")
    parser.add_argument("--record", help=f"a WFDB record for the pipeline (default: PTB-XL's {DEMO_RECORD})")
    parser.add_argument("--out", required=True, help="folder for summary.json and demo.png")
    parser.add_argument("--eval-splits", nargs="+", default=["validation", "test"])
    args = parser.parse_args(argv)
    record = args.record or str(ptbxl_folder([DEMO_ECG_ID], (100,)) / DEMO_RECORD)
    report = run_demo_evaluation(args.model, args.dataset, record, args.eval_splits)
    summary_path, figure_path = write_report(report, args.out)
    print(format_summary(report))
    print(f"  wrote {summary_path} and {figure_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
