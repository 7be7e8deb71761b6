"""Build MIMIC-IV-ECG with its machine reports as a Hub-ready dataset (Parquet shards + card), streamed record
by record; re-run the same command after an interruption to resume from the last finished shard.

    python datasets_scripts/build_mimic_iv_ecg.py --root mimic-iv-ecg/1.0 --out outputs/mimic-iv-ecg --num-proc 16

On several machines (a SLURM array, or any scheduler), each builds one contiguous part of the record list into its
own folder, then one command merges the parts into the dataset a single build would have written:

    python datasets_scripts/build_mimic_iv_ecg.py --root mimic-iv-ecg/1.0 --out parts/$I --num-shards 8 --shard-index $I
    python datasets_scripts/build_mimic_iv_ecg.py --out outputs/mimic-iv-ecg --merge-parts parts/0 parts/1 ... parts/7
"""

from modeling_supreme.dataset_builders.build_arguments import (
    builder_parser,
    finish,
    merge_from_args,
    parse_builder_args,
    settings_from_args,
)
from modeling_supreme.dataset_builders.mimic_iv_ecg import build_mimic_iv_ecg, mimic_description


def main() -> None:
    parser = builder_parser(
        __doc__, "MIMIC-IV-ECG folder (record_list.csv, machine_measurements.csv, files/)", parts=True
    )
    args = parse_builder_args(parser)
    if args.merge_parts:
        summary = merge_from_args(args, mimic_description())
    else:
        summary = build_mimic_iv_ecg(args.root, args.out, settings_from_args(args))
    finish(summary, args)


if __name__ == "__main__":
    main()
