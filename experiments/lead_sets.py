"""Zero-shot super-class AUROC by lead set, pre-trained with and without lead-set augmentation.

Pre-trains each variant on PTB-XL folds 1-8 of a built dataset (several seeds, every other setting from --config,
the same steps and data), then asks each model zero-shot for the five PTB-XL super-classes on folds 9-10 with the
records reduced to each lead set before the feature extractor (a device recording only those leads; the limb leads
it can derive from I and II count as derived):

- `none`:    the demo model (twelve leads in every training batch, the encoder sees the leads only);
- `augment`: `--lead-dropout 0.5` over the default lead sets, and the lead mask as encoder input channels;
- `dropout-only`: the same augmentation without the mask channels (what the mask input adds);
- `dropout-0.75`: `--lead-dropout 0.75` over the default sets (single leads in 11% of the ECGs instead of 7%);
- `dropout-5sets`: `--lead-dropout 0.5` over 12, 6, 2, I and II (single leads in 10%, twelve leads kept in 60%);
- `dropout-0.75-mask`: `dropout-0.75` with the lead mask as encoder input channels;
- `single-weights`: `dropout-0.75` with single leads I and II drawn twice as often as each other set
  (`--lead-set-weights 1 1 1 1 1 2 2`: each single lead in 17% of the ECGs);
- `consistency`: `dropout-0.75` plus `--lead-consistency 1` (each reduced ECG's label logits pulled toward its
  twelve-lead logits, detached);
- `consistency-weights`: `consistency` with the `single-weights` draw.

`--per-split` also reports the validation fold (9) and the test fold (10) apart, so a variant can be chosen on fold 9
and its figures read on fold 10 alone.

Prints, per variant and lead set, the mean super-class AUROC (mean +/- std over seeds), the lowest super-class AUROC,
the gap to twelve leads and the ratio augment / none; then the targets checked on these figures, and each
variant's mean training step time (`train/step_time`) with its ratio to `none`'s, measured in the same invocation.
No model selection: each run keeps its last step (folds 9-10 are the evaluation).

    python datasets_scripts/build_ptbxl.py --out outputs/ptbxl-100 --sampling-rate 100
    python datasets_scripts/extract_entities.py --dataset outputs/ptbxl-100 --extractor lexicon \
        --out outputs/ptbxl-100-entities
    python experiments/lead_sets.py --dataset outputs/ptbxl-100-entities --out outputs/lead-sets --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from supreme_vs_clip import add_run_arguments, mean_and_std, run_options

from modeling_supreme.evaluation import load_model_and_processor
from modeling_supreme.evaluation.heldout import evaluate_lead_sets, load_heldout_set
from modeling_supreme.leads_supreme import parse_lead_sets
from modeling_supreme.training import read_metrics, run_training
from modeling_supreme.training.tracking import METRICS_FILE
from modeling_supreme.training.trainer import LOGS_FOLDER

# Over the default sets 12, 6, 4, 3, 2, I, II: each single lead twice as likely as any other set.
SINGLE_LEAD_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
# Variant -> the options and SupremeConfig fields it changes (the rest comes from --config).
VARIANTS: dict[str, dict[str, Any]] = {
    "none": {},
    "augment": {"lead_dropout": 0.5, "lead_mask_channels": True},
    "dropout-only": {"lead_dropout": 0.5},
    "dropout-0.75": {"lead_dropout": 0.75},
    "dropout-5sets": {"lead_dropout": 0.5, "lead_sets": ["12", "6", "2", "I", "II"]},
    "dropout-0.75-mask": {"lead_dropout": 0.75, "lead_mask_channels": True},
    "single-weights": {"lead_dropout": 0.75, "lead_set_weights": SINGLE_LEAD_WEIGHTS},
    "consistency": {"lead_dropout": 0.75, "lead_consistency": 1.0},
    "consistency-weights": {"lead_dropout": 0.75, "lead_set_weights": SINGLE_LEAD_WEIGHTS, "lead_consistency": 1.0},
}
EVAL_LEAD_SETS = "12,6,4,3,2,II,I"
# The targets: the largest gap (AUROC points) of a lead set below twelve leads.
TARGET_GAPS = {"6": 3.0, "2": 5.0, "II": 10.0}
# The lowest acceptable super-class AUROC of any lead set, and the largest 12-lead cost of the augmentation.
TARGET_FLOOR = 50.0
TARGET_TWELVE_LEAD_COST = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, VARIANTS)
    parser.add_argument("--lead-sets", default=EVAL_LEAD_SETS, help="lead sets evaluated, comma-separated")
    parser.add_argument("--per-split", action="store_true", help="also report each of --eval-splits on its own")
    return parser.parse_args()


def mean_step_seconds(run_dir: Path, run_name: str) -> float:
    """Mean `train/step_time` (seconds per optimisation step, data loading excluded) over a run's logged steps."""
    times = [record["train/step_time"] for record in read_metrics(run_dir / LOGS_FOLDER / run_name / METRICS_FILE)
             if "train/step_time" in record]
    if not times:
        raise ValueError(f"{run_dir}: no train/step_time in its metrics (is log_with jsonl?)")
    return statistics.fmean(times)


def run_record(
    variant: str, seed: int, steps: int, seconds: float, results: dict[str, Any], evaluated_on: str,
    step_seconds: float,
) -> dict[str, Any]:
    """One run's figures per lead set on the held-out splits `evaluated_on`: mean super-class AUROC and the AUROC of
    each super-class, and its training and mean step seconds."""
    return {"variant": variant, "seed": seed, "evaluated_on": evaluated_on, "steps": steps, "train_seconds": seconds,
            "step_seconds": step_seconds,
            "lead_sets": {name: {"mean_auroc": result.mean_auroc, "per_label": result.per_label_auroc}
                          for name, result in results.items()}}


def summarize(
    runs: list[dict[str, Any]], variants: list[str], lead_sets: list[str], evaluated_on: str
) -> dict[str, Any]:
    """Per variant and lead set, on the held-out splits `evaluated_on`: mean +/- std over seeds of the mean AUROC, per
    label the mean over seeds, and the lowest of those label means."""
    summary: dict[str, Any] = {}
    for variant in variants:
        chosen = [run for run in runs if run["variant"] == variant and run["evaluated_on"] == evaluated_on]
        summary[variant] = {}
        for lead_set in lead_sets:
            labels = chosen[0]["lead_sets"][lead_set]["per_label"]
            per_label = {label: statistics.fmean(run["lead_sets"][lead_set]["per_label"][label] for run in chosen)
                         for label in labels if labels[label] is not None}
            worst = min(per_label, key=per_label.get)
            summary[variant][lead_set] = {
                "mean_auroc": mean_and_std([run["lead_sets"][lead_set]["mean_auroc"] for run in chosen]),
                "per_label": per_label, "worst_label": worst, "worst_auroc": per_label[worst],
            }
    return summary


def step_time_summary(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, tuple[float, float]]:
    """Per variant, mean +/- std over seeds of the mean step seconds (one figure per run, whatever it was scored on)."""
    per_run = {(run["variant"], run["seed"]): run["step_seconds"] for run in runs}
    return {variant: mean_and_std([seconds for (name, _), seconds in per_run.items() if name == variant])
            for variant in variants}


def print_step_times(step_times: dict[str, tuple[float, float]]) -> None:
    print("\nTraining step time (train/step_time, mean over logged steps, mean +/- std over seeds):")
    reference = step_times.get("none")
    for variant, (mean, std) in step_times.items():
        ratio = f"{mean / reference[0]:.2f} x none" if reference else ""
        print(f"{variant:20s} {1000 * mean:7.1f} ms (+/- {1000 * std:5.1f})  {ratio}")


def target_checks(summary: dict[str, Any], variant: str, reference: str | None) -> list[tuple[str, bool, str]]:
    """The targets on the seed means of `variant`: (target, met, figures)."""
    entry = summary[variant]
    twelve = entry["12"]["mean_auroc"][0] if "12" in entry else None
    checks = []
    for lead_set, allowed in TARGET_GAPS.items():
        if lead_set in entry and twelve is not None:
            gap = twelve - entry[lead_set]["mean_auroc"][0]
            checks.append((f"{lead_set} within {allowed:g} of 12", gap <= allowed, f"gap {gap:.1f}"))
    lowest = min(entry.values(), key=lambda row: row["worst_auroc"])
    lowest_set = next(name for name, row in entry.items() if row is lowest)
    checks.append((f"every super-class >= {TARGET_FLOOR:g}", lowest["worst_auroc"] >= TARGET_FLOOR,
                   f"lowest {lowest['worst_label']} {lowest['worst_auroc']:.1f} on {lowest_set}"))
    if reference is not None and twelve is not None and "12" in summary[reference]:
        cost = summary[reference]["12"]["mean_auroc"][0] - twelve
        checks.append((f"12 leads at most {TARGET_TWELVE_LEAD_COST:g} below {reference}",
                       cost <= TARGET_TWELVE_LEAD_COST,
                       f"{twelve:.1f} vs {summary[reference]['12']['mean_auroc'][0]:.1f}"))
    return checks


def print_table(
    summary: dict[str, Any], lead_sets: list[str], seeds: list[int], n_ecgs: int, evaluated_on: str
) -> None:
    print(f"\nZero-shot super-class AUROC on {evaluated_on} ({n_ecgs} ECGs) by lead set, mean over seeds {seeds}:")
    reference = "none" if "none" in summary else None
    print("variant             leads  mean AUROC (+/- seeds)  gap to 12  lowest class    ratio to none")
    for variant, entry in summary.items():
        twelve = entry["12"]["mean_auroc"][0] if "12" in entry else None
        for lead_set in lead_sets:
            row = entry[lead_set]
            mean, std = row["mean_auroc"]
            gap = f"{twelve - mean:9.1f}" if twelve is not None else "        -"
            ratio = (f"{mean / summary[reference][lead_set]['mean_auroc'][0]:.3f}"
                     if reference and reference != variant else "-")
            print(f"{variant:19s} {lead_set:5s}  {mean:6.1f} (+/- {std:4.1f})       {gap}  "
                  f"{row['worst_label']:5s} {row['worst_auroc']:5.1f}     {ratio}")
    for variant in summary:
        for target, met, figures in target_checks(summary, variant, reference if reference != variant else None):
            print(f"target [{variant}] {target}: {'met' if met else 'NOT met'} ({figures})")


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    lead_sets = parse_lead_sets(args.lead_sets)
    heldout_sets = {"+".join(args.eval_splits): load_heldout_set(args.dataset, args.eval_splits)}
    if args.per_split and len(args.eval_splits) > 1:
        heldout_sets.update({name: load_heldout_set(args.dataset, [name]) for name in args.eval_splits})
    runs = []
    for variant in args.variants:
        for seed in args.seeds:
            options = run_options(args, variant, seed, VARIANTS)
            started = time.perf_counter()
            result = run_training(options)
            seconds = time.perf_counter() - started
            step_seconds = mean_step_seconds(result.run_dir, options.run_name)
            model, processor = load_model_and_processor(result.output_dir)
            for evaluated_on, heldout in heldout_sets.items():
                runs.append(run_record(variant, seed, result.global_step, seconds,
                                       evaluate_lead_sets(model, processor, heldout, lead_sets), evaluated_on,
                                       step_seconds))
                figures = "  ".join(f"{name} {entry['mean_auroc']:.1f}"
                                    for name, entry in runs[-1]["lead_sets"].items())
                print(f"{variant:19s} seed {seed} [{evaluated_on}]: mean AUROC by lead set: {figures}  "
                      f"[{seconds:.0f} s]", flush=True)
    summary = {}
    for evaluated_on, heldout in heldout_sets.items():
        summary[evaluated_on] = summarize(runs, args.variants, lead_sets, evaluated_on)
        print_table(summary[evaluated_on], lead_sets, args.seeds, int(heldout.targets.shape[0]), evaluated_on)
    step_times = step_time_summary(runs, args.variants)
    print_step_times(step_times)
    heldout = heldout_sets["+".join(args.eval_splits)]
    results = {"config": args.config, "variants": {name: VARIANTS[name] for name in args.variants},
               "eval_splits": args.eval_splits, "n_eval_ecgs": int(heldout.targets.shape[0]), "lead_sets": lead_sets,
               "label_texts": dict(zip(heldout.label_names, heldout.label_texts)), "runs": runs, "summary": summary,
               "step_seconds": step_times}
    path = Path(args.out) / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
