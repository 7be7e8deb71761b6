"""SuPreME vs a MERL-style (CLIP) objective on the same data, backbone and steps, by query wording: the paper's claim
in miniature, and whether zero-shot survives rewording.

Pre-trains variants on PTB-XL folds 1-8 of a built dataset (several seeds each, every other setting from
--config), then asks each zero-shot for the five PTB-XL super-classes on folds 9-10 (validation + test splits):

- `sample`: objective=supreme, one surface form per label drawn per batch (`--label-text sample`, the default);
- `sample-text2`: `sample` with the text tower's top two layers trainable (as `clip`), so the text encoder itself
                  can learn to place a label's forms together;
- `clip`:   objective=clip (MERL-style InfoNCE between ECG and report), the text tower's top two layers trainable
            (MERL fine-tunes its text encoder).

Per variant and super-class it reports the AUROC of the default query (label_descriptions.json), the worst AUROC
over the wordings of each of the project's paraphrase sets (`default`, and `blind`, written without sight of the
training texts or the first set; no wording is a training text), the spread (best - worst wording) and the
mean over wordings, each as mean over seeds, and per variant the first-axis share of the query scores
(`evaluation.robustness.logit_axis_shares`: near 1, the model ranks the ECGs one way whatever it is asked, so a
wording can only keep or invert its label's AUROC). No model selection: each run keeps its last step (folds 9-10 are
the evaluation).

    python datasets_scripts/build_ptbxl.py --out outputs/ptbxl-100 --sampling-rate 100
    python datasets_scripts/extract_entities.py --dataset outputs/ptbxl-100 --extractor lexicon \
        --out outputs/ptbxl-100-entities
    python experiments/supreme_vs_clip.py --dataset outputs/ptbxl-100-entities --out outputs/supreme-vs-clip \
        --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import statistics
import time
from pathlib import Path
from typing import Any

from modeling_supreme.evaluation import load_model_and_processor
from modeling_supreme.evaluation.heldout import evaluate_heldout, load_heldout_set
from modeling_supreme.evaluation.robustness import load_paraphrases
from modeling_supreme.training import TrainingOptions, load_yaml_config, run_training
from modeling_supreme.training.options import supreme_config_fields

# Variant -> the options it changes (SupremeConfig fields go to `model_config`, see `with_overrides`).
VARIANTS: dict[str, dict[str, Any]] = {
    "sample": {"objective": "supreme", "label_text": "sample"},
    "sample-text2": {"objective": "supreme", "label_text": "sample", "text_trainable_layers": 2},
    "clip": {"objective": "clip", "text_trainable_layers": 2},
}
TASK = "ptbxl_super"


def add_run_arguments(parser: argparse.ArgumentParser, variants: dict[str, dict[str, Any]]) -> None:
    """The arguments every seeds x variants experiment shares (this one and experiments/lead_sets.py)."""
    parser.add_argument("--dataset", required=True, help="built PTB-XL dataset with an `entities` column")
    parser.add_argument("--out", required=True, help="folder for the runs and results.json")
    parser.add_argument("--config", default="configs/demo.yaml", help="training settings shared by every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(variants), choices=list(variants))
    parser.add_argument("--max-steps", type=int, help="override the config's steps")
    parser.add_argument("--eval-splits", nargs="+", default=["validation", "test"], help="held-out splits (folds 9-10)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, VARIANTS)
    parser.add_argument("--paraphrases", nargs="+", default=["default", "blind"],
                        help="paraphrase sets by name or file ({task: {label: [wordings]}}), each reported apart")
    return parser.parse_args()


def run_options(
    args: argparse.Namespace, variant: str, seed: int, variants: dict[str, dict[str, Any]] = VARIANTS
) -> TrainingOptions:
    """The options of one run: `--config`, then the variant's changes (`variants[variant]`), seed and folder."""
    values = load_yaml_config(args.config)
    values.update(
        dataset=args.dataset, output_dir=str(Path(args.out) / f"{variant}-seed{seed}"), seed=seed,
        validation_split="none", select_best=False, log_with="jsonl", save_steps=0,
    )
    values = with_overrides(values, variants[variant])
    if args.max_steps:
        values["max_steps"] = args.max_steps
    return TrainingOptions(**values)


def with_overrides(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Run option values with `overrides` applied: SupremeConfig fields go to `model_config` (after the config
    file's, so they win), the rest replace options."""
    model_fields = supreme_config_fields()
    model = {key: value for key, value in overrides.items() if key in model_fields}
    options = {key: value for key, value in overrides.items() if key not in model_fields}
    return {**values, **options, "model_config": {**values.get("model_config", {}), **model}}


def mean_and_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def first_axis_share(shares: list[float]) -> float:
    """The first of `logit_axis_shares`, NaN for a run whose scores have no axis (every ECG scored the same)."""
    return shares[0] if shares else math.nan


def run_record(variant: str, seed: int, steps: int, seconds: float, scores: Any, paraphrases: str) -> dict[str, Any]:
    """One run's figures on one paraphrase set: per super-class the default query's AUROC and its wordings' worst /
    spread / mean."""
    per_label = {
        name: {"query": scores.per_label_auroc[name], "worst": result.worst, "worst_wording": result.worst_wording,
               "spread": result.spread, "mean_over_wordings": result.mean, "wordings": result.auroc}
        for name, result in scores.wordings.items()
    }
    wording_means = [
        entry["mean_over_wordings"] for entry in per_label.values() if entry["mean_over_wordings"] is not None
    ]
    return {"variant": variant, "seed": seed, "paraphrases": paraphrases, "steps": steps, "train_seconds": seconds,
            "mean_auroc": scores.mean_auroc,
            "mean_auroc_over_wordings": statistics.fmean(wording_means),
            "first_axis_share": first_axis_share(scores.query_axis_shares), "per_label": per_label}


def summarize(runs: list[dict[str, Any]], variants: list[str], labels: list[str], paraphrases: str) -> dict[str, Any]:
    """Per variant, on one paraphrase set: per label the mean over seeds of each figure, and the two means over
    labels."""
    summary: dict[str, Any] = {}
    for variant in variants:
        chosen = [run for run in runs if run["variant"] == variant and run["paraphrases"] == paraphrases]
        per_label = {
            label: {key: statistics.fmean(run["per_label"][label][key] for run in chosen)
                    for key in ("query", "worst", "spread", "mean_over_wordings")}
            for label in labels
        }
        summary[variant] = {
            "per_label": per_label,
            "mean_auroc": mean_and_std([run["mean_auroc"] for run in chosen]),
            "mean_auroc_over_wordings": mean_and_std([run["mean_auroc_over_wordings"] for run in chosen]),
            "first_axis_share": mean_and_std([run["first_axis_share"] for run in chosen]),
        }
    return summary


def print_table(summary: dict[str, Any], labels: list[str], seeds: list[int], n_ecgs: int, paraphrases: str) -> None:
    print(f"\nZero-shot super-class AUROC on PTB-XL folds 9-10 ({n_ecgs} ECGs), wordings of {paraphrases!r}, mean "
          f"over seeds {seeds}:")
    print("variant      label  query  worst  spread  mean-over-wordings")
    for variant, entry in summary.items():
        for label in labels:
            row = entry["per_label"][label]
            print(f"{variant:12s} {label:5s} {row['query']:6.1f} {row['worst']:6.1f} {row['spread']:7.1f} "
                  f"{row['mean_over_wordings']:8.1f}")
        mean, std = entry["mean_auroc_over_wordings"]
        query_mean, query_std = entry["mean_auroc"]
        share, share_std = entry["first_axis_share"]
        print(f"{variant:12s} mean   {query_mean:6.1f} (+/- {query_std:.1f} over seeds); over all wordings "
              f"{mean:.1f} +/- {std:.1f}; first-axis share of the query scores {share:.2f} +/- {share_std:.2f}")
    if "sample-text2" in summary and "sample" in summary:
        for key in ("mean_auroc", "mean_auroc_over_wordings"):
            ratio = summary["sample"][key][0] / summary["sample-text2"][key][0]
            print(f"sample / sample-text2, {key}: {ratio:.3f}")
    if "clip" in summary and "sample" in summary:
        ratio = summary["sample"]["mean_auroc_over_wordings"][0] / summary["clip"]["mean_auroc_over_wordings"][0]
        print(f"sample / clip, mean_auroc_over_wordings: {ratio:.3f}")


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    heldout = load_heldout_set(args.dataset, args.eval_splits)
    wording_sets = {name: load_paraphrases(name)[TASK] for name in args.paraphrases}
    runs = []
    for variant in args.variants:
        for seed in args.seeds:
            options = run_options(args, variant, seed)
            started = time.perf_counter()
            result = run_training(options)
            seconds = time.perf_counter() - started
            model, processor = load_model_and_processor(result.output_dir)
            for set_name, wordings in wording_sets.items():
                scores = evaluate_heldout(model, processor, heldout, wordings=wordings)
                runs.append(run_record(variant, seed, result.global_step, seconds, scores, set_name))
                worst = "  ".join(f"{name} {entry['worst']:.1f}" for name, entry in runs[-1]["per_label"].items())
                print(f"{variant:12s} seed {seed} [{set_name}]: mean AUROC {scores.mean_auroc:.2f}, over wordings "
                      f"{runs[-1]['mean_auroc_over_wordings']:.2f}; worst wording: {worst}; first-axis share "
                      f"{runs[-1]['first_axis_share']:.2f}  [{seconds:.0f} s]", flush=True)
    labels = list(heldout.label_names)
    summary = {name: summarize(runs, args.variants, labels, name) for name in wording_sets}
    for name, per_variant in summary.items():
        print_table(per_variant, labels, args.seeds, int(heldout.targets.shape[0]), name)
    first = run_options(args, args.variants[0], args.seeds[0])
    results = {"settings": {key: value for key, value in dataclasses.asdict(first).items()
                            if key not in ("output_dir", "seed", "label_text", "model_config")},
               "variants": {name: VARIANTS[name] for name in args.variants},
               "eval_splits": args.eval_splits, "n_eval_ecgs": int(heldout.targets.shape[0]),
               "label_texts": dict(zip(heldout.label_names, heldout.label_texts)), "wordings": wording_sets,
               "runs": runs, "summary": summary}
    path = Path(args.out) / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
