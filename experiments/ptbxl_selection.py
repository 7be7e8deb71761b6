"""Choose the PTB-XL recipe on fold 8: pre-train variants on folds 1-7 and score each on fold 8 by the rule of
docs/ptbxl-recipe.md (written before the runs).

Each variant is `--config` (the candidate recipe) with the changes of one variant of `experiments/supreme_vs_clip.py` or
`experiments/lead_sets.py` (`none` there is `sample` here), or `resnet1d18` (the larger encoder). A run trains with
`run_training`, then scores the model with `eval/zero_shot.py --folds 8` twice (the default queries with
`--lead-sets 12,6,II`, and MERL's CKEPE prompts), as a user would, and appends one line to `OUT/selection.jsonl`:

- `score`: the mean of four figures on fold 8 (x100): the super-class mean AUROC and the within-abnormal mean of MI,
  STTC, HYP and CD by the default queries, the within-abnormal sub-class mean by the CKEPE prompts, and the rhythm
  mean by the default queries;
- `first_axis_share` of the default queries' scores, the lead-set super-class means and the run's step time.

A run whose line is already in `selection.jsonl` is skipped, so an interrupted invocation continues where it stopped.

    python datasets_scripts/build_ptbxl.py --root "$SUPREME_DATA_DIR/ptbxl-sample" \
        --root "$SUPREME_DATA_DIR/ptbxl-more" --out sel/ptbxl-100 --split-folds train=1-7,validation=8
    python datasets_scripts/extract_entities.py --dataset sel/ptbxl-100 --extractor lexicon --out sel/ptbxl-100-entities
    OMP_NUM_THREADS=1 python experiments/ptbxl_selection.py --dataset sel/ptbxl-100-entities --out sel/runs \
        --max-steps 1000 --variants sample dropout-0.75
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lead_sets  # noqa: E402
import supreme_vs_clip  # noqa: E402
from ptbxl_recipe import LEAD_SETS, WITHIN_ABNORMAL, evaluate  # noqa: E402

from modeling_supreme.training import run_training  # noqa: E402

SELECTION_FOLD = 8
VARIANTS: dict[str, dict[str, Any]] = {
    **supreme_vs_clip.VARIANTS,
    **{name: {"objective": "supreme", "label_text": "sample", **changes}
       for name, changes in lead_sets.VARIANTS.items() if name != "none"},
    "resnet1d18": {"objective": "supreme", "label_text": "sample", "model_preset": "resnet1d18"},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="dataset built with --split-folds train=1-7,validation=8")
    parser.add_argument("--out", required=True, help="folder for the runs and selection.jsonl")
    parser.add_argument("--config", default="configs/ptbxl.yaml", help="the candidate recipe")
    parser.add_argument("--variants", nargs="+", required=True, choices=list(VARIANTS))
    parser.add_argument("--max-steps", type=int, required=True, help="the schedule, the same for every variant")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def run_name(variant: str, steps: int, seed: int) -> str:
    return f"{variant}-{steps}-seed{seed}"


def selection_figures(default: dict[str, Any], ckepe: dict[str, Any]) -> dict[str, Any]:
    """The rule's four figures (x100), their mean (`score`), the first-axis share and the lead-set means."""
    tasks = default["tasks"]
    super_within = [tasks["ptbxl_super"]["within_abnormal"][label] for label in WITHIN_ABNORMAL]
    figures = {
        "super_mean": tasks["ptbxl_super"]["auroc"],
        "super_within_abnormal": statistics.fmean(super_within),
        "sub_within_abnormal_ckepe": ckepe["tasks"]["ptbxl_sub"]["within_abnormal_auroc"],
        "rhythm_mean": tasks["ptbxl_rhythm"]["auroc"],
    }
    return {
        **figures, "score": statistics.fmean(figures.values()), "first_axis_share": default["first_axis_share"],
        "within_abnormal_super": dict(zip(WITHIN_ABNORMAL, super_within)),
        "lead_sets": tasks["ptbxl_super"].get("lead_sets"),
    }


def run_variant(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    options = supreme_vs_clip.run_options(args, variant, args.seed, VARIANTS)
    folder = Path(args.out) / run_name(variant, args.max_steps, args.seed)
    options.output_dir = str(folder)
    started = time.perf_counter()
    result = run_training(options)
    seconds = time.perf_counter() - started
    model = Path(result.output_dir)
    default = evaluate(model, args.dataset, [SELECTION_FOLD], folder / "fold8-default", "--lead-sets", LEAD_SETS)
    ckepe = evaluate(model, args.dataset, [SELECTION_FOLD], folder / "fold8-ckepe", "--prompts", "ckepe")
    step_seconds = lead_sets.mean_step_seconds(result.run_dir, options.run_name)
    return {"variant": variant, "steps": result.global_step, "seed": args.seed, "train_seconds": round(seconds, 1),
            "step_seconds": step_seconds, **selection_figures(default, ckepe)}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = out / "selection.jsonl"
    done = set()
    if ledger.exists():
        done = {run_name(row["variant"], row["steps"], row["seed"])
                for row in map(json.loads, ledger.read_text(encoding="utf-8").splitlines())}
    for variant in args.variants:
        if run_name(variant, args.max_steps, args.seed) in done:
            continue
        row = run_variant(args, variant)
        with ledger.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        print(f"{variant} {row['steps']} steps seed {row['seed']}: score {row['score']:.1f}"
              f" (super {row['super_mean']:.1f}, within-abnormal {row['super_within_abnormal']:.1f},"
              f" sub-class {row['sub_within_abnormal_ckepe']:.1f},"
              f" rhythm {row['rhythm_mean']:.1f}), first-axis share {row['first_axis_share']:.2f}", flush=True)


if __name__ == "__main__":
    main()
