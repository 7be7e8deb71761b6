"""SuPreME vs a MERL-style (CLIP) objective on the same data, backbone and steps: the paper's claim in miniature.

Pre-trains with `objective="supreme"` and with `objective="clip"` on PTB-XL folds 1-8 of a built dataset (several
seeds each, every other setting from --config), then asks both zero-shot for the five PTB-XL super-classes on folds
9-10 (validation + test splits) and reports the mean AUROC (x100) per run and its mean +/- standard deviation over
seeds. No model selection: each run keeps its last step (folds 9-10 are the evaluation).

    python datasets_scripts/build_ptbxl.py --root data/ptbxl-sample --out outputs/ptbxl-100 --sampling-rate 100
    python datasets_scripts/extract_entities.py --dataset outputs/ptbxl-100 --extractor lexicon --out outputs/ptbxl-100-entities
    python bench/supreme_vs_clip.py --dataset outputs/ptbxl-100-entities --out outputs/supreme-vs-clip --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import time
from pathlib import Path

from modeling_supreme.training import (
    TrainingOptions,
    evaluate_heldout,
    load_heldout_set,
    load_model_folder,
    load_yaml_config,
    run_training,
)

OBJECTIVES = ("supreme", "clip")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="built PTB-XL dataset with an `entities` column")
    parser.add_argument("--out", required=True, help="folder for the runs and results.json")
    parser.add_argument("--config", default="configs/demo.yaml", help="training settings shared by every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=OBJECTIVES)
    parser.add_argument("--max-steps", type=int, help="override the config's steps")
    parser.add_argument("--eval-splits", nargs="+", default=["validation", "test"], help="held-out splits (folds 9-10)")
    return parser.parse_args()


def run_options(args: argparse.Namespace, objective: str, seed: int) -> TrainingOptions:
    values = load_yaml_config(args.config)
    values.update(
        dataset=args.dataset, output_dir=str(Path(args.out) / f"{objective}-seed{seed}"),
        model_config=values.get("model_config", []) + [f"objective={objective}"], seed=seed, validation_split="none", select_best=False, log_with="jsonl", save_steps=0,
    )
    if args.max_steps:
        values["max_steps"] = args.max_steps
    return TrainingOptions(**values)


def mean_and_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    heldout = load_heldout_set(args.dataset, args.eval_splits)
    runs = []
    for objective in args.objectives:
        for seed in args.seeds:
            options = run_options(args, objective, seed)
            started = time.perf_counter()
            result = run_training(options)
            seconds = time.perf_counter() - started
            model, processor = load_model_folder(result.output_dir)
            scores = evaluate_heldout(model, processor, heldout)
            runs.append({"objective": objective, "seed": seed, "steps": result.global_step, "train_seconds": seconds,
                         "mean_auroc": scores.mean_auroc, "per_label_auroc": scores.per_label_auroc})
            per_label = "  ".join(f"{name} {value:.1f}" for name, value in scores.per_label_auroc.items() if value is not None)
            print(f"{objective:8s} seed {seed}: mean AUROC {scores.mean_auroc:.2f}  ({per_label})  "
                  f"[{result.global_step} steps, {seconds:.0f} s]", flush=True)
    summary = {}
    for objective in args.objectives:
        mean, std = mean_and_std([run["mean_auroc"] for run in runs if run["objective"] == objective])
        summary[objective] = {"mean": mean, "std": std}
        print(f"{objective:8s}: zero-shot super-class AUROC on folds 9-10 = {mean:.2f} +/- {std:.2f} "
              f"(mean +/- SD over seeds {args.seeds}, {heldout.targets.shape[0]} ECGs)")
    if set(OBJECTIVES) <= set(summary):
        difference = summary["supreme"]["mean"] - summary["clip"]["mean"]
        print(f"supreme - clip: {difference:+.2f} AUROC points; ratio supreme / clip = "
              f"{summary['supreme']['mean'] / summary['clip']['mean']:.3f}")
    first = run_options(args, args.objectives[0], args.seeds[0])
    results = {"settings": {key: value for key, value in dataclasses.asdict(first).items()
                            if key not in ("output_dir", "objective", "seed")},
               "eval_splits": args.eval_splits, "n_eval_ecgs": int(heldout.targets.shape[0]),
               "label_texts": dict(zip(heldout.label_names, heldout.label_texts)), "runs": runs, "summary": summary}
    path = Path(args.out) / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
