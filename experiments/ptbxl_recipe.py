"""The PTB-XL recipe's figures: models side by side on PTB-XL folds, mean +/- SD over their seeds.

Each group (`recipe=RUN_DIR,RUN_DIR,...`, one run folder of `train_accelerate.py` per seed, holding `model/` and
`logs/`) is scored with `eval/zero_shot.py --folds ...` as a user would: the project's descriptions with each
packaged paraphrase set (`--robustness`; the first one also with `--lead-sets 12,6,II`), and MERL's CKEPE prompts.
Printed as a Markdown table (and written to `OUT/figures.json`): the super-class AUROC by the default queries, the
within-abnormal AUROC of MI, STTC, HYP and CD, the sub-class, form and rhythm means, the first-axis shares, the worst
wording and largest spread of every paraphrase set, the lead-set gaps, and the training throughput (ECG/s) and the
loader's share of step time from the run's logged metrics.

    python experiments/ptbxl_recipe.py --dataset ptbxl-output/data/ptbxl-100-entities --folds 9 10 --out figures \
        --group recipe=runs/recipe-seed0,runs/recipe-seed1,runs/recipe-seed2 --group demo=runs/demo-seed0,...
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from modeling_supreme.evaluation.robustness import PACKAGED_PARAPHRASES
from modeling_supreme.training.tracking import read_metrics

REPO = Path(__file__).resolve().parent.parent
SUPER = ("NORM", "MI", "STTC", "HYP", "CD")
WITHIN_ABNORMAL = ("MI", "STTC", "HYP", "CD")
LEAD_SETS = "12,6,II"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset built by build_ptbxl.py holding the --folds")
    parser.add_argument("--folds", type=int, nargs="+", default=[9, 10])
    parser.add_argument("--group", action="append", required=True, help="NAME=RUN_DIR[,RUN_DIR...] (one per seed)")
    parser.add_argument("--out", required=True, help="folder for each evaluation and figures.json")
    return parser.parse_args()


def parse_group(text: str) -> tuple[str, list[Path]]:
    name, separator, folders = text.partition("=")
    if not separator or not folders:
        raise SystemExit(f"--group {text!r}: expected NAME=RUN_DIR[,RUN_DIR...]")
    runs = [Path(folder) for folder in folders.split(",")]
    for run in runs:
        if not (run / "model" / "config.json").is_file():
            raise SystemExit(f"--group {name}: {run} holds no model folder (model/config.json)")
    return name, runs


def evaluate(model: Path, dataset: str, folds: list[int], out: Path, *extra: str) -> dict[str, Any]:
    """`eval/zero_shot.py --folds` on `model` (writing into `out`), the results read back."""
    command = [sys.executable, str(REPO / "eval" / "zero_shot.py"), "--model", str(model), "--fold-dataset", dataset,
               "--folds", *map(str, folds), "--out", str(out), *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def training_speed(run: Path) -> dict[str, float]:
    """Throughput (ECG/s) and the loader's share of step time, from the run's logged `train/*` metrics."""
    records = [record for metrics in sorted((run / "logs").glob("*/metrics.jsonl")) for record in read_metrics(metrics)
               if "train/step_time" in record]
    config = json.loads((run / "model" / "training_args.json").read_text(encoding="utf-8")) \
        if (run / "model" / "training_args.json").is_file() else {}
    batch = config.get("batch_size", 32)
    step = statistics.fmean(record["train/step_time"] for record in records)
    data = statistics.fmean(record["train/data_time"] for record in records)
    return {"throughput ECG/s": batch / (step + data), "loader share of step time": data / (step + data)}


def run_figures(run: Path, dataset: str, folds: list[int], out: Path) -> dict[str, float]:
    """Every figure of one seed's run, x100 for AUROCs."""
    figures: dict[str, float] = {}
    for index, paraphrases in enumerate(PACKAGED_PARAPHRASES):
        extra = ["--robustness", paraphrases] + (["--lead-sets", LEAD_SETS] if index == 0 else [])
        result = evaluate(run / "model", dataset, folds, out / paraphrases, *extra)
        tasks = result["tasks"]
        if index == 0:
            figures.update(default_query_figures(tasks, result["first_axis_share"]))
        wordings = tasks["ptbxl_super"]["wordings"]
        figures[f"paraphrases {paraphrases}: lowest worst wording"] = min(entry["worst"] for entry in wordings.values())
        figures[f"paraphrases {paraphrases}: largest spread"] = max(entry["spread"] for entry in wordings.values())
    ckepe_result = evaluate(run / "model", dataset, folds, out / "ckepe", "--prompts", "ckepe")
    ckepe = ckepe_result["tasks"]
    figures.update({
        "within-abnormal sub-class mean (CKEPE)": ckepe["ptbxl_sub"]["within_abnormal_auroc"],
        "sub-class mean (CKEPE)": ckepe["ptbxl_sub"]["auroc"],
        "form mean (CKEPE)": ckepe["ptbxl_form"]["auroc"],
        "rhythm mean (CKEPE)": ckepe["ptbxl_rhythm"]["auroc"],
    })
    figures["first-axis share, CKEPE queries"] = ckepe_result["first_axis_share"]
    figures.update(training_speed(run))
    return figures


def default_query_figures(tasks: dict[str, Any], first_axis_share: float) -> dict[str, float]:
    """The figures asked by the project's descriptions (`label_descriptions.json`) and the lead-set gaps."""
    super_task = tasks["ptbxl_super"]
    figures = {"super mean (default queries)": super_task["auroc"]}
    figures.update({f"super {label}": super_task["per_label"][label] for label in SUPER})
    figures.update({f"within-abnormal {label}": super_task["within_abnormal"][label] for label in WITHIN_ABNORMAL})
    figures["within-abnormal sub-class mean (default)"] = tasks["ptbxl_sub"]["within_abnormal_auroc"]
    figures["rhythm mean (default)"] = tasks["ptbxl_rhythm"]["auroc"]
    figures["sinus rhythm (default)"] = tasks["ptbxl_rhythm"]["per_label"]["SR"]
    figures["first-axis share, default queries and wordings"] = first_axis_share
    leads = super_task["lead_sets"]
    figures["leads 6 limb: gap to 12"] = leads["12"]["auroc"] - leads["6"]["auroc"]
    figures["lead II: gap to 12"] = leads["12"]["auroc"] - leads["II"]["auroc"]
    return figures


def mean_and_sd(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    digits = 2 if max(abs(value) for value in values) <= 1.0 else 1
    return f"{statistics.fmean(values):.{digits}f} +/- {spread:.{digits}f}"


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    groups = dict(parse_group(text) for text in args.group)
    per_group: dict[str, list[dict[str, float]]] = {}
    for name, runs in groups.items():
        per_group[name] = [run_figures(run, args.dataset, args.folds, Path(args.out) / name / run.name)
                           for run in runs]
    rows = list(next(iter(per_group.values()))[0])
    print(f"| figure (mean +/- SD over seeds; folds {' '.join(map(str, args.folds))}) | "
          + " | ".join(f"{name} ({len(runs)} seeds)" for name, runs in groups.items()) + " |")
    print("| --- |" + " ---: |" * len(groups))
    for row in rows:
        print(f"| {row} | " + " | ".join(mean_and_sd([seed[row] for seed in per_group[name]]) for name in groups)
              + " |")
    path = Path(args.out) / "figures.json"
    path.write_text(json.dumps({"folds": args.folds, "groups": {name: [str(run) for run in runs]
                                                                for name, runs in groups.items()},
                                "figures": per_group}, indent=2) + "\n", encoding="utf-8")
    print(f"figures: {path}")


if __name__ == "__main__":
    main()
