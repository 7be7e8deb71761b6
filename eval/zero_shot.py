"""Zero-shot ECG benchmark: six test splits (PTB-XL super / sub / form / rhythm, CPSC2018, CSN; 106 label columns),
each label asked for by a text description; AUROC per label, mean per task x100 with a bootstrap 95 % interval.

    python eval/zero_shot.py --model path/or/hub-id --splits data/benchmark-splits \
        --data ptbxl=datasets/ptbxl-500hz cpsc2018=datasets/cpsc2018 csn=datasets/csn --out results/zero-shot

`--data` takes dataset folders built by datasets_scripts/build_*.py (or Hub dataset ids, or raw WFDB folders),
each as SOURCE=PATH or just PATH (the source is then told from the record names). Tasks whose data are not given
are reported as skipped. Writes results.json, results.md and roc_curves.png into --out.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from modeling_supreme.evaluation.benchmark import ALL_TASKS, SOURCES
from modeling_supreme.evaluation.records import PTBXL_RATES, RecordSource, open_source
from modeling_supreme.evaluation.reporting import markdown_table, write_report
from modeling_supreme.evaluation.zero_shot import load_label_descriptions
from modeling_supreme.evaluation.zero_shot_benchmark import load_model_and_processor, run_zero_shot_benchmark


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint folder or Hub id")
    parser.add_argument("--tasks", default=",".join(ALL_TASKS), help=f"comma-separated, from {','.join(ALL_TASKS)}")
    parser.add_argument("--splits", default="data/benchmark-splits", help="benchmark-splits folder")
    parser.add_argument("--data", nargs="*", default=[], metavar="[SOURCE=]PATH", help=f"record sources; SOURCE in {SOURCES}")
    parser.add_argument("--ptbxl-root", help="raw PTB-XL folder (ptbxl_database.csv, records100/, records500/)")
    parser.add_argument(
        "--ptbxl-rate", default="auto", choices=["auto", *map(str, PTBXL_RATES)],
        help="which files of a raw PTB-XL folder to read; auto: 100 Hz for models at <= 100 Hz, else 500 Hz",
    )
    parser.add_argument("--prompts", help="JSON {task: {column: description}} replacing the project's label descriptions")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cuda" if _cuda_available() else "cpu")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--f1", action="store_true", help="also report F1 at thresholds chosen on the val split")
    parser.add_argument("--trust-remote-code", action="store_true", help="load a Hub model's own code")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def open_sources(data: list[str], ptbxl_root: str | None, ptbxl_rate: int) -> dict[str, RecordSource]:
    """`--data` entries ([SOURCE=]PATH) and `--ptbxl-root` -> {source name: record source}."""
    entries = [entry.split("=", 1) if "=" in entry else [None, entry] for entry in data]
    if ptbxl_root:
        entries.append(["ptbxl", ptbxl_root])
    sources: dict[str, RecordSource] = {}
    for source, path in entries:
        name, opened = open_source(path, source, ptbxl_rate)
        if name in sources:
            raise SystemExit(f"error: two record sources given for {name}: {sources[name].description} and {opened.description}")
        sources[name] = opened
    return sources


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    unknown = sorted(set(tasks) - set(ALL_TASKS))
    if unknown:
        raise SystemExit(f"error: unknown tasks {unknown}; choose from {list(ALL_TASKS)}")
    model, processor = load_model_and_processor(args.model, args.device, args.trust_remote_code)
    rate = model.config.sampling_rate if args.ptbxl_rate == "auto" else int(args.ptbxl_rate)
    ptbxl_rate = 100 if rate <= 100 else 500
    sources = open_sources(args.data, args.ptbxl_root, ptbxl_rate)
    report = run_zero_shot_benchmark(
        model,
        processor,
        tasks,
        args.splits,
        sources,
        descriptions=load_label_descriptions(args.prompts),
        batch_size=args.batch_size,
        n_resamples=args.n_resamples,
        seed=args.seed,
        with_f1=args.f1,
        model_name=str(args.model),
        progress=not args.no_progress,
    )
    report.settings["label_descriptions"] = args.prompts or "modeling_supreme/evaluation/label_descriptions.json"
    paths = write_report(report, args.out)
    print(markdown_table(report))
    print("Wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
