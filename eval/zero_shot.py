r"""Zero-shot ECG benchmark: six test splits (PTB-XL super / sub / form / rhythm, CPSC2018, CSN; 106 label columns),
each label asked for by a text description; AUROC per label, mean per task x100 with a bootstrap 95 % interval.

    python eval/zero_shot.py --model path/or/hub-id \
        --data ptbxl=datasets/ptbxl-500hz cpsc2018=datasets/cpsc2018 csn=datasets/csn --out results/zero-shot

`--data` takes dataset folders built by datasets_scripts/build_*.py (or Hub dataset ids, or raw WFDB folders),
each as SOURCE=PATH or just PATH (the source is then told from the record names); `--ptbxl-root` names a raw
PTB-XL folder. Without `--splits`, MERL's label tables come from `SUPREME_DATA_DIR`, the cache or a download (see
docs/data.md). Tasks whose data are not given are reported as skipped. Writes results.json, results.md and
roc_curves.png into --out.

`--prompts ckepe` asks every label by MERL's CKEPE prompt (the published protocol's queries); `--prompts FILE`
takes a JSON of label -> text or list of texts (a list is a prompt ensemble: the mean of its logits), or
{task: {label: ...}}. `--robustness default` (or a FILE of {task: {label: [wordings]}}) also asks each label by
each of several wordings alone and reports, per label, every wording's AUROC, the worst one and the spread.
`--lead-sets 12,6,4,3,2,II,I` also scores every task with its records reduced to each lead set (the missing leads
removed before the feature extractor, so limb leads derived from I and II count as derived): AUROC per task and
lead set in results.json (`tasks.<task>.lead_sets`) and in a table of results.md.

`--folds 9 10 --fold-dataset DIR` scores, instead of the benchmark tables, every record of those `strat_fold`s of a
dataset built by datasets_scripts/build_ptbxl.py on the four PTB-XL tasks (its own label columns, named as in the
tables), and adds per label the within-abnormal AUROC (among the ECGs that are not NORM) and the first-axis share of
all query scores (`--robustness` and `--lead-sets` apply too). PTB-XL is then in-domain for a model pre-trained on
PTB-XL: not MERL's zero-shot setting.

    python eval/zero_shot.py --model run/model --fold-dataset outputs/ptbxl-100 --folds 9 10 --prompts ckepe \
        --robustness default --lead-sets 12,6,II --out results/folds-9-10
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from modeling_supreme.evaluation.benchmark_arguments import add_benchmark_arguments, benchmark_inputs, print_written
from modeling_supreme.evaluation.ptbxl_folds import (
    FOLD_TASKS,
    evaluate_ptbxl_folds,
    fold_report_markdown,
    select_folds,
)
from modeling_supreme.evaluation.reporting import markdown_table, write_report
from modeling_supreme.evaluation.robustness import PACKAGED_PARAPHRASES, load_paraphrases
from modeling_supreme.evaluation.run_benchmark import run_zero_shot_benchmark
from modeling_supreme.evaluation.scoring import load_label_descriptions
from modeling_supreme.leads_supreme import parse_lead_sets

DEFAULT_DESCRIPTIONS = "modeling_supreme/evaluation/label_descriptions.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_benchmark_arguments(parser)
    parser.add_argument(
        "--prompts",
        help="'ckepe' (MERL's CKEPE prompts) or a JSON of label -> text or list of texts (a prompt ensemble), or "
        "{task: {label: ...}}; replaces the project's label descriptions (every label of a task must be covered)",
    )
    parser.add_argument(
        "--robustness",
        metavar="FILE",
        help=f"one of the project's paraphrase sets ({', '.join(PACKAGED_PARAPHRASES)}) or a JSON "
        "{task: {label: [wordings]}}: AUROC per wording, worst, spread",
    )
    parser.add_argument("--f1", action="store_true", help="also report F1 at thresholds chosen on the val split")
    parser.add_argument(
        "--lead-sets",
        help="also report every task by lead set, e.g. 12,6,4,3,2,II,I (6: limb leads; 4: I, II, III, V2; "
        "3: I, II, V2; 2: I, II; a lead name; leads joined by +): the other leads are removed from the records first",
    )
    parser.add_argument("--folds", type=int, nargs="+", help="PTB-XL strat_folds of --fold-dataset to score")
    parser.add_argument("--fold-dataset", help="with --folds: a dataset folder built by build_ptbxl.py")
    args = parser.parse_args(argv)
    if (args.folds is None) != (args.fold_dataset is None):
        parser.error("--folds and --fold-dataset go together")
    if args.lead_sets is not None:
        try:
            args.lead_sets = parse_lead_sets(args.lead_sets)
        except ValueError as error:
            parser.error(f"--lead-sets: {error}")
    return args


def run_folds(args: argparse.Namespace) -> int:
    """`--folds`: the four PTB-XL tasks on the chosen folds of a built dataset -> results.json, results.md."""
    from modeling_supreme.evaluation import load_model_and_processor
    from modeling_supreme.training.data import load_splits

    model, processor = load_model_and_processor(args.model, args.device, args.trust_remote_code)
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip() in FOLD_TASKS] or list(FOLD_TASKS)
    report = evaluate_ptbxl_folds(
        model, processor, select_folds(load_splits(args.fold_dataset), args.folds), args.folds,
        load_label_descriptions(args.prompts), tasks,
        wordings=load_paraphrases(args.robustness) if args.robustness else None,
        lead_sets=args.lead_sets or (), batch_size=args.batch_size,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"model": str(args.model), "dataset": args.fold_dataset, "prompts": args.prompts or DEFAULT_DESCRIPTIONS,
               "paraphrases": args.robustness, **report.to_json()}
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    paths["json"].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    table = fold_report_markdown(report)
    paths["markdown"].write_text(table, encoding="utf-8")
    return print_written(table, paths)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.folds is not None:
        return run_folds(args)
    report = run_zero_shot_benchmark(
        *benchmark_inputs(args),
        descriptions=load_label_descriptions(args.prompts),
        batch_size=args.batch_size,
        n_resamples=args.n_resamples,
        seed=args.seed,
        with_f1=args.f1,
        model_name=str(args.model),
        progress=not args.no_progress,
        paraphrases=load_paraphrases(args.robustness) if args.robustness else None,
        lead_sets=args.lead_sets or (),
    )
    report.settings["label_descriptions"] = args.prompts or DEFAULT_DESCRIPTIONS
    if args.robustness:
        report.settings["paraphrases"] = args.robustness
    return print_written(markdown_table(report), write_report(report, args.out))


if __name__ == "__main__":
    sys.exit(main())
