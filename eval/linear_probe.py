r"""Linear probe: frozen ECG encoder, linear head trained on 1 / 10 / 100 % of each task's training split (nested
subsets, fixed seed), weight decay and epoch selected on the validation split only, test scored once.

    python eval/linear_probe.py --model path/or/hub-id \
        --data ptbxl=datasets/ptbxl-500hz --tasks ptbxl_super,ptbxl_rhythm --out results/linear-probe

Writes, per fraction, results.json / results.md / roc_curves.png into --out/train_<P>pct/, and a summary
results.json / results.md (tasks x fractions) into --out.
"""

from __future__ import annotations

import argparse
import logging
import sys

from modeling_supreme.evaluation.benchmark_arguments import add_benchmark_arguments, benchmark_inputs, print_written
from modeling_supreme.evaluation.linear_probe import (
    DEFAULT_FRACTIONS,
    DEFAULT_WEIGHT_DECAYS,
    ProbeSettings,
    probe_table,
    run_linear_probe,
    write_probe_reports,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_benchmark_arguments(parser)
    parser.add_argument("--fractions", default=",".join(map(str, DEFAULT_FRACTIONS)), help="training fractions")
    parser.add_argument("--epochs", type=int, default=ProbeSettings.epochs)
    parser.add_argument("--learning-rate", type=float, default=ProbeSettings.learning_rate)
    parser.add_argument(
        "--weight-decays", default=",".join(map(str, DEFAULT_WEIGHT_DECAYS)), help="grid searched on val"
    )
    parser.add_argument("--eval-every", type=int, default=ProbeSettings.eval_every, help="epochs between val checks")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = ProbeSettings(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        weight_decays=tuple(float(value) for value in args.weight_decays.split(",")),
        eval_every=args.eval_every,
        seed=args.seed,
    )
    reports = run_linear_probe(
        *benchmark_inputs(args),
        fractions=[float(value) for value in args.fractions.split(",")],
        settings=settings,
        batch_size=args.batch_size,
        n_resamples=args.n_resamples,
        model_name=str(args.model),
        progress=not args.no_progress,
    )
    return print_written(probe_table(reports), write_probe_reports(reports, args.out))


if __name__ == "__main__":
    sys.exit(main())
